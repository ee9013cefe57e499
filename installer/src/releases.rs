//! The release source over HTTP: the release list of a GitHub-compatible releases API
//! and the downloads of its assets. TLS is verified the runtime's way, against the OS
//! trust store plus the configured `ca_cert` (and `SSL_CERT_PATH`), so an enterprise
//! mirror behind a private CA works; proxies come from the environment.
//!
//! Every address followed (the list, its next pages, each download and each redirect)
//! must be https: the release list and the assets it points at come from the network,
//! and a plain-http hop anywhere would let whoever sits on the path choose the bytes.
//! `--allow-http` lets a loopback mirror, and only a loopback one, answer over http.

use anyhow::{anyhow, bail, Context, Result};
use self_update::update::{Release, ReleaseAsset};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Largest release list page read.
const MAX_LIST_BYTES: u64 = 16 * 1024 * 1024;
/// Largest asset downloaded: a release archive holds two programs and some text.
pub const MAX_ASSET_BYTES: u64 = 512 * 1024 * 1024;
/// Pages of releases followed (`Link: <...>; rel="next"`), 100 releases each.
const MAX_PAGES: usize = 10;
/// Redirects followed for one request (GitHub sends each download to its storage host).
const MAX_REDIRECTS: usize = 5;

#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    allow_http: bool,
}

impl Client {
    /// A client trusting the OS store and `ca_files`; plain http only to a loopback
    /// host, and only with `allow_http`.
    pub fn new(ca_files: &[PathBuf], allow_http: bool) -> Result<Client> {
        let agent = codex_guard_hook::transport::agent(ca_files).map_err(|e| anyhow!(e))?;
        Ok(Client { agent, allow_http })
    }

    /// Every release of `owner/name` at `source` (`https://api.github.com` or a mirror)
    /// with an asset for `target`, newest first as the source lists them.
    pub fn releases(
        &self,
        source: &str,
        owner: &str,
        name: &str,
        target: &str,
    ) -> Result<Vec<Release>> {
        let mut url = format!(
            "{}/repos/{owner}/{name}/releases?per_page=100",
            source.trim_end_matches('/')
        );
        let mut releases = Vec::new();
        for _ in 0..MAX_PAGES {
            let response = self.get(&url, "application/vnd.github+json")?;
            let next = response
                .headers()
                .get_all("link")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find_map(next_link);
            let body = response
                .into_body()
                .into_with_config()
                .limit(MAX_LIST_BYTES)
                .read_to_vec()
                .with_context(|| format!("reading {url}"))?;
            let page: Value = serde_json::from_slice(&body)
                .with_context(|| format!("{url} did not answer a JSON release list"))?;
            let page = page
                .as_array()
                .ok_or_else(|| anyhow!("{url} did not answer a list of releases"))?;
            for release in page {
                releases.push(parse_release(release).with_context(|| format!("in {url}"))?);
            }
            match next {
                Some(link) => url = link,
                None => break,
            }
        }
        releases.retain(|r| r.has_target_asset(target));
        Ok(releases)
    }

    /// Downloads `url` into `to`, at most [`MAX_ASSET_BYTES`], drawing progress when asked.
    pub fn download(&self, url: &str, to: &Path, progress: bool) -> Result<()> {
        let response = self.get(url, "application/octet-stream")?;
        let length = response
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let bar = match (progress, length) {
            (true, Some(length)) => indicatif::ProgressBar::new(length),
            _ => indicatif::ProgressBar::hidden(),
        };
        let mut reader = bar.wrap_read(
            response
                .into_body()
                .into_with_config()
                .limit(MAX_ASSET_BYTES)
                .reader(),
        );
        let mut file = fs_err::File::create(to)?;
        std::io::copy(&mut reader, &mut file).with_context(|| format!("downloading {url}"))?;
        file.flush()?;
        bar.finish_and_clear();
        Ok(())
    }

    /// GET `url`, following redirects ourselves so each hop passes [`followable`];
    /// any final answer but a 2xx is an error.
    fn get(&self, url: &str, accept: &str) -> Result<ureq::http::Response<ureq::Body>> {
        let mut url = followable(url, self.allow_http)?;
        for _ in 0..=MAX_REDIRECTS {
            let response = self
                .agent
                .get(url.as_str())
                .header("Accept", accept)
                .config()
                .max_redirects(0)
                .build()
                .call()
                .with_context(|| format!("GET {url}"))?;
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| {
                        anyhow!(
                            "GET {url} answered HTTP {} without a Location",
                            status.as_u16()
                        )
                    })?;
                let next = url
                    .join(location)
                    .with_context(|| format!("GET {url} redirected to {location:?}"))?;
                url = followable(next.as_str(), self.allow_http)
                    .with_context(|| format!("GET {url} redirected"))?;
                continue;
            }
            if !status.is_success() {
                bail!("GET {url} answered HTTP {}", status.as_u16());
            }
            return Ok(response);
        }
        bail!("GET {url}: more than {MAX_REDIRECTS} redirects")
    }
}

/// `url` if self-update may follow it: https, or with `allow_http` plain http to a
/// loopback host.
pub fn followable(url: &str, allow_http: bool) -> Result<url::Url> {
    let parsed = url::Url::parse(url).with_context(|| format!("{url:?} is not a valid URL"))?;
    let loopback = match parsed.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if allow_http && loopback => Ok(parsed),
        "http" if loopback => bail!(
            "refusing to follow {url}: plain http (pass --allow-http to use a loopback mirror over http)"
        ),
        "http" => bail!(
            "refusing to follow {url}: plain http to a remote host, where anyone on the way could change what is installed; self-update follows https only (--allow-http allows a loopback mirror, never a remote one)"
        ),
        other => bail!("refusing to follow {url}: the scheme {other:?} is not https"),
    }
}

/// A release as GitHub's API describes it.
fn parse_release(release: &Value) -> Result<Release> {
    let tag = release["tag_name"]
        .as_str()
        .ok_or_else(|| anyhow!("a release has no tag_name"))?;
    let assets = release["assets"]
        .as_array()
        .ok_or_else(|| anyhow!("release {tag} has no assets"))?
        .iter()
        .map(|asset| {
            Ok(ReleaseAsset {
                // The API address of the asset, which answers its bytes when asked for
                // application/octet-stream.
                download_url: asset["url"]
                    .as_str()
                    .ok_or_else(|| anyhow!("an asset of release {tag} has no url"))?
                    .to_string(),
                name: asset["name"]
                    .as_str()
                    .ok_or_else(|| anyhow!("an asset of release {tag} has no name"))?
                    .to_string(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Release {
        name: release["name"].as_str().unwrap_or(tag).to_string(),
        version: tag.trim_start_matches('v').to_string(),
        date: release["created_at"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        body: release["body"].as_str().map(String::from),
        assets,
    })
}

/// The `rel="next"` address of a `Link` header, if any.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| matches!(p.trim(), "rel=\"next\"" | "rel=next"));
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then(|| target.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn releases_are_read_as_githubs_api_describes_them() {
        let release = parse_release(&json!({
            "tag_name": "v1.2.3", "name": "One two three", "created_at": "2026-11-01T00:00:00Z",
            "assets": [{"name": "SHA256SUMS", "url": "https://mirror/assets/1",
                "browser_download_url": "https://mirror/download/SHA256SUMS"}],
        }))
        .unwrap();
        assert_eq!(release.version, "1.2.3");
        assert_eq!(release.name, "One two three");
        assert_eq!(release.assets[0].name, "SHA256SUMS");
        assert_eq!(release.assets[0].download_url, "https://mirror/assets/1");
        let broken = parse_release(&json!({"tag_name": "v1", "assets": [{"name": "x"}]}));
        assert!(broken.unwrap_err().to_string().contains("no url"));
        assert!(parse_release(&json!({"name": "x"})).is_err());
    }

    #[test]
    fn only_https_is_followed_and_http_only_to_loopback_when_allowed() {
        for url in ["https://api.github.com/x", "https://127.0.0.1:8443/x"] {
            assert!(followable(url, false).is_ok(), "{url}");
        }
        for url in [
            "http://127.0.0.1:8080/x",
            "http://[::1]:8080/x",
            "http://localhost/x",
        ] {
            let refused = followable(url, false).unwrap_err().to_string();
            assert!(refused.contains("--allow-http"), "{url}: {refused}");
            assert!(followable(url, true).is_ok(), "{url}");
        }
        for url in [
            "http://api.github.com/x",
            "http://10.0.0.1/x",
            "http://127.0.0.1.evil.example/x",
            "ftp://127.0.0.1/x",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert!(followable(url, true).is_err(), "{url}");
        }
    }

    #[test]
    fn the_next_page_comes_from_the_link_header() {
        let header = r#"<https://api.example/r?page=2>; rel="next", <https://api.example/r?page=5>; rel="last""#;
        assert_eq!(
            next_link(header).as_deref(),
            Some("https://api.example/r?page=2")
        );
        assert_eq!(
            next_link(r#"<https://api.example/r?page=1>; rel="prev""#),
            None
        );
        assert_eq!(next_link("garbage"), None);
    }
}
