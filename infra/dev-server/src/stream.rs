//! The table's stream as Lambda's event source mapping reads it for
//! webhook-events, locally: every shard polled with the function's own
//! identity (checked by the IAM proxy like any other call), each batch
//! handed over as the Lambda event, and a batch whose handler reports a
//! failed record read again from that record, as Lambda retries. A child
//! shard is read once its parent is done, so a key's changes stay in order.

use std::collections::BTreeMap;
use std::future::Future;

use aws_config::SdkConfig;
use aws_lambda_events::event::dynamodb::{Event, EventRecord, StreamRecord, StreamViewType};
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use aws_sdk_dynamodbstreams::Client;
use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType};

/// Records per batch, as the template's `BatchSize`.
const BATCH_SIZE: i32 = 100;

#[derive(Debug, thiserror::Error)]
#[error("reading the table's stream: {0}")]
pub struct StreamError(String);

fn failed(err: impl std::fmt::Display) -> StreamError {
    StreamError(err.to_string())
}

/// Where the mapping starts in shards it has not read yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Everything the stream still holds (the template's `TRIM_HORIZON`).
    Oldest,
    /// Only what is written from now on, in the shards open now (tests).
    Now,
}

#[derive(Debug)]
struct Shard {
    parent: Option<String>,
    /// The next read; `None` once the shard is closed and read to its end.
    iterator: Option<String>,
}

pub struct TableStream {
    client: Client,
    arn: String,
    region: String,
    shards: BTreeMap<String, Shard>,
}

impl TableStream {
    /// The stream of `table`, read as the function whose SDK config is `aws`.
    pub async fn open(aws: &SdkConfig, table: &str, start: Start) -> Result<Self, StreamError> {
        let client = Client::new(aws);
        let listed = client
            .list_streams()
            .table_name(table)
            .send()
            .await
            .map_err(|e| failed(aws_sdk_dynamodbstreams::error::DisplayErrorContext(e)))?;
        let arn = listed
            .streams()
            .first()
            .and_then(|s| s.stream_arn())
            .ok_or_else(|| {
                StreamError(format!(
                    "table {table} has no stream (template.yaml's StreamSpecification)"
                ))
            })?
            .to_owned();
        let mut stream = Self {
            client,
            arn,
            region: aws.region().map(|r| r.to_string()).unwrap_or_default(),
            shards: BTreeMap::new(),
        };
        stream.discover(start).await?;
        Ok(stream)
    }

    /// Learns the stream's shards; new ones start at `start`'s position
    /// (a shard that appears later always from its oldest record).
    async fn discover(&mut self, start: Start) -> Result<(), StreamError> {
        let mut after: Option<String> = None;
        loop {
            let described = self
                .client
                .describe_stream()
                .stream_arn(&self.arn)
                .set_exclusive_start_shard_id(after.clone())
                .send()
                .await
                .map_err(|e| failed(aws_sdk_dynamodbstreams::error::DisplayErrorContext(e)))?;
            let Some(description) = described.stream_description() else {
                return Ok(());
            };
            for shard in description.shards() {
                let Some(id) = shard.shard_id() else { continue };
                if self.shards.contains_key(id) {
                    continue;
                }
                let open = shard
                    .sequence_number_range()
                    .is_none_or(|range| range.ending_sequence_number().is_none());
                let position = match start {
                    Start::Now if open => ShardIteratorType::Latest,
                    // A closed shard's records were all written before now.
                    Start::Now => continue,
                    Start::Oldest => ShardIteratorType::TrimHorizon,
                };
                let iterator = self.iterator(id, position, None).await?;
                self.shards.insert(
                    id.to_owned(),
                    Shard {
                        parent: shard.parent_shard_id().map(str::to_owned),
                        iterator,
                    },
                );
            }
            after = description.last_evaluated_shard_id().map(str::to_owned);
            if after.is_none() {
                return Ok(());
            }
        }
    }

    async fn iterator(
        &self,
        shard: &str,
        position: ShardIteratorType,
        sequence_number: Option<String>,
    ) -> Result<Option<String>, StreamError> {
        let got = self
            .client
            .get_shard_iterator()
            .stream_arn(&self.arn)
            .shard_id(shard)
            .shard_iterator_type(position)
            .set_sequence_number(sequence_number)
            .send()
            .await
            .map_err(|e| failed(aws_sdk_dynamodbstreams::error::DisplayErrorContext(e)))?;
        Ok(got.shard_iterator().map(str::to_owned))
    }

    /// One read of every shard whose parent is done: each batch of records
    /// handed to `handle`. Returns how many records were handed over.
    pub async fn poll<F, Fut>(&mut self, mut handle: F) -> Result<usize, StreamError>
    where
        F: FnMut(Event) -> Fut,
        Fut: Future<Output = DynamoDbEventResponse>,
    {
        self.discover(Start::Oldest).await?;
        let ready: Vec<String> = self
            .shards
            .iter()
            .filter(|(_, shard)| shard.iterator.is_some())
            .filter(|(_, shard)| {
                shard
                    .parent
                    .as_ref()
                    .and_then(|parent| self.shards.get(parent))
                    .is_none_or(|parent| parent.iterator.is_none())
            })
            .map(|(id, _)| id.clone())
            .collect();
        let mut handed = 0;
        for id in ready {
            let Some(iterator) = self.shards.get(&id).and_then(|s| s.iterator.clone()) else {
                continue;
            };
            let read = self
                .client
                .get_records()
                .shard_iterator(iterator)
                .limit(BATCH_SIZE)
                .send()
                .await
                .map_err(|e| failed(aws_sdk_dynamodbstreams::error::DisplayErrorContext(e)))?;
            let mut next = read.next_shard_iterator().map(str::to_owned);
            let records = read.records();
            if !records.is_empty() {
                handed += records.len();
                let event = self.event(records);
                let response = handle(event).await;
                // Lambda retries from the first failed record.
                if let Some(sequence_number) = response
                    .batch_item_failures
                    .iter()
                    .find_map(|failure| failure.item_identifier.clone())
                {
                    next = self
                        .iterator(
                            &id,
                            ShardIteratorType::AtSequenceNumber,
                            Some(sequence_number),
                        )
                        .await?;
                }
            }
            if let Some(shard) = self.shards.get_mut(&id) {
                shard.iterator = next;
            }
        }
        Ok(handed)
    }

    /// The records as Lambda's DynamoDB event carries them.
    fn event(&self, records: &[Record]) -> Event {
        let mut event = Event::default();
        event.records = records.iter().map(|r| self.event_record(r)).collect();
        event
    }

    fn event_record(&self, record: &Record) -> EventRecord {
        let mut out = EventRecord::default();
        out.aws_region = self.region.clone();
        out.event_id = record.event_id().unwrap_or_default().to_owned();
        out.event_name = record
            .event_name()
            .map(|name| name.as_str().to_owned())
            .unwrap_or_default();
        out.event_source = Some("aws:dynamodb".into());
        out.event_source_arn = Some(self.arn.clone());
        let mut change = StreamRecord::default();
        if let Some(data) = record.dynamodb() {
            if let Some(at) = data
                .approximate_creation_date_time()
                .and_then(|at| chrono::DateTime::from_timestamp(at.secs(), 0))
            {
                change.approximate_creation_date_time = at;
            }
            change.keys = data.keys().cloned().unwrap_or_default().into();
            change.new_image = data.new_image().cloned().unwrap_or_default().into();
            change.old_image = data.old_image().cloned().unwrap_or_default().into();
            change.sequence_number = data.sequence_number().map(str::to_owned);
            change.size_bytes = data.size_bytes().unwrap_or_default();
            change.stream_view_type = Some(StreamViewType::NewAndOldImages);
        }
        out.change = change;
        out
    }
}
