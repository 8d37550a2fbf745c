//! Files handed to clients through S3: the only code that builds S3
//! requests. An export too large for a Lambda response is written to the
//! exports bucket and the client is sent a presigned GET for it.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;

use crate::error::ApiError;

#[derive(Debug, thiserror::Error)]
#[error("S3: {0}")]
pub struct FilesError(pub(crate) String);

impl From<FilesError> for ApiError {
    fn from(err: FilesError) -> Self {
        ApiError::internal(err)
    }
}

/// One bucket of files, each readable for a while through a presigned URL.
#[derive(Clone)]
pub struct Files {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl Files {
    pub fn new(aws: &SdkConfig, bucket: &str) -> Self {
        // Locally (an endpoint override) bucket names go in the path, as
        // moto and the IAM proxy take them; on AWS, virtual-hosted style.
        let config = aws_sdk_s3::config::Builder::from(aws)
            .force_path_style(aws.endpoint_url().is_some())
            .build();
        Self {
            client: aws_sdk_s3::Client::from_conf(config),
            bucket: bucket.to_owned(),
        }
    }

    /// Stores `body` under `key` and answers a URL that GETs it, with
    /// these headers, for `valid_for`.
    pub async fn put_and_link(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        content_disposition: &str,
        valid_for: Duration,
    ) -> Result<String, FilesError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .content_disposition(content_disposition)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| FilesError(aws_sdk_s3::error::DisplayErrorContext(e).to_string()))?;
        let presigning =
            PresigningConfig::expires_in(valid_for).map_err(|e| FilesError(e.to_string()))?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(presigning)
            .await
            .map_err(|e| FilesError(aws_sdk_s3::error::DisplayErrorContext(e).to_string()))?;
        Ok(request.uri().to_owned())
    }
}
