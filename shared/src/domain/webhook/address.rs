//! Which endpoint URLs and addresses a webhook may go to. Production sends
//! only over https to public addresses: never loopback, private, shared
//! (CGNAT), link-local (the cloud metadata service at 169.254.169.254 and
//! fd00:ec2::254) or other special-purpose ranges. The URL is checked at
//! registration, and every address its host resolves to is checked again
//! right before each delivery connects (no DNS rebinding in between).
//! Locally (APP_ENV=local) http and loopback are allowed so tests can
//! receive.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use axum::http::Uri;

use crate::config::AppEnv;

/// Longest URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// An endpoint URL that passed the checks that need no DNS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointUrl {
    pub uri: Uri,
    pub host: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefused {
    #[error("the URL is not an absolute http(s) URL")]
    Malformed,
    #[error("only https URLs are accepted")]
    NotHttps,
    #[error("the URL names a local or private address")]
    PrivateAddress,
    #[error("the URL carries credentials")]
    Credentials,
}

/// Parses and checks `url` for `env`; IP literals are checked here, host
/// names when they are resolved (`address_allowed`).
pub fn check_url(url: &str, env: AppEnv) -> Result<EndpointUrl, UrlRefused> {
    if url.len() > MAX_URL_LEN {
        return Err(UrlRefused::Malformed);
    }
    let uri: Uri = url.parse().map_err(|_| UrlRefused::Malformed)?;
    let authority = uri.authority().ok_or(UrlRefused::Malformed)?;
    if authority.as_str().contains('@') {
        return Err(UrlRefused::Credentials);
    }
    match (uri.scheme_str(), env) {
        (Some("https"), _) | (Some("http"), AppEnv::Local) => {}
        (Some("http"), AppEnv::Production) => return Err(UrlRefused::NotHttps),
        _ => return Err(UrlRefused::Malformed),
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    if host.is_empty() {
        return Err(UrlRefused::Malformed);
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        if !address_allowed(ip, env) {
            return Err(UrlRefused::PrivateAddress);
        }
    } else if env == AppEnv::Production && local_name(host) {
        return Err(UrlRefused::PrivateAddress);
    }
    Ok(EndpointUrl {
        host: host.to_ascii_lowercase(),
        uri,
    })
}

/// Names that never resolve to a public address.
fn local_name(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost"
        || [".localhost", ".internal", ".local"]
            .iter()
            .any(|suffix| host.ends_with(suffix))
}

/// May a delivery connect to `ip`? Public addresses always; loopback too
/// when running locally.
pub fn address_allowed(ip: IpAddr, env: AppEnv) -> bool {
    is_public(ip) || (env == AppEnv::Local && ip.is_loopback())
}

fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let segments = ip.segments();
    // NAT64 (64:ff9b::/96) reaches the IPv4 address it embeds.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [a, b] = segments[6].to_be_bytes();
        let [c, d] = segments[7].to_be_bytes();
        return is_public_v4(Ipv4Addr::new(a, b, c, d));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (segments[0] & 0xfe00) == 0xfc00 // unique local, fd00:ec2::254 among them
        || (segments[0] & 0xffc0) == 0xfe80 // link-local
        || (segments[0] == 0x2001 && segments[1] == 0xdb8)) // documentation
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(url: &str) -> Option<UrlRefused> {
        check_url(url, AppEnv::Production).err()
    }

    #[test]
    fn production_accepts_public_https_urls() {
        let url = check_url("https://hooks.example.com/in?x=1", AppEnv::Production).unwrap();
        assert_eq!(url.host, "hooks.example.com");
        assert!(check_url("https://93.184.216.34/h", AppEnv::Production).is_ok());
    }

    #[test]
    fn production_refuses_plain_http() {
        assert_eq!(
            refused("http://hooks.example.com/"),
            Some(UrlRefused::NotHttps)
        );
    }

    #[test]
    fn production_refuses_loopback_private_link_local_and_metadata_literals() {
        for url in [
            "https://127.0.0.1/",
            "https://10.1.2.3/",
            "https://172.16.0.1/",
            "https://192.168.1.1/",
            "https://169.254.169.254/latest/meta-data/",
            "https://100.100.100.200/",
            "https://0.0.0.0/",
            "https://[::1]/",
            "https://[fd00:ec2::254]/",
            "https://[fe80::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[64:ff9b::a9fe:a9fe]/",
            "https://localhost/",
            "https://metadata.google.internal/",
        ] {
            assert_eq!(refused(url), Some(UrlRefused::PrivateAddress), "{url}");
        }
    }

    #[test]
    fn malformed_urls_and_credentials_are_refused() {
        assert_eq!(refused("not a url"), Some(UrlRefused::Malformed));
        assert_eq!(refused("ftp://example.com/"), Some(UrlRefused::Malformed));
        assert_eq!(refused("/relative"), Some(UrlRefused::Malformed));
        assert_eq!(
            refused("https://u:p@example.com/"),
            Some(UrlRefused::Credentials)
        );
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(refused(&long), Some(UrlRefused::Malformed));
    }

    #[test]
    fn locally_http_to_loopback_is_allowed_but_not_metadata() {
        assert!(check_url("http://127.0.0.1:8123/hook", AppEnv::Local).is_ok());
        assert_eq!(
            check_url("http://169.254.169.254/", AppEnv::Local).err(),
            Some(UrlRefused::PrivateAddress)
        );
    }

    #[test]
    fn resolved_addresses_are_checked_per_environment() {
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(!address_allowed(loopback, AppEnv::Production));
        assert!(address_allowed(loopback, AppEnv::Local));
        assert!(address_allowed(
            "2606:4700::1111".parse().unwrap(),
            AppEnv::Production
        ));
        assert!(!address_allowed("10.0.0.1".parse().unwrap(), AppEnv::Local));
    }
}
