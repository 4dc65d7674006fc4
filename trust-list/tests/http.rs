//! The router driven with `tower::ServiceExt::oneshot`, no network.
#![cfg(feature = "server")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;
use vaxpass_keys::cert::{self, VerifiedCsr};
use vaxpass_keys::profile::{CscaProfile, DistinguishedName, DscProfile, TrustListSignerProfile};
use vaxpass_keys::{CertificateType, KeyAlgorithm, PrivateKey, SoftwareSigner};
use vaxpass_trust_list::http::{TrustListState, router};
use vaxpass_trust_list::publish::{self, BuildOptions};
use vaxpass_trust_list::{Entry, EntryAnchor};
use vaxpass_verifier::Timestamp;
use vaxpass_verifier::trustlist::{TrustListPolicy, verify};

const NOW: Timestamp = Timestamp::from_unix_seconds(1_767_225_600);

struct Fixture {
    csca: Vec<u8>,
    signer: SoftwareSigner,
    dsc: Vec<u8>,
}

fn fixture() -> Fixture {
    let dn = |cn: &str| DistinguishedName::new("VN", "vaxpass test", cn);
    let csca_key = PrivateKey::generate(KeyAlgorithm::EcP256).unwrap();
    let csca = cert::issue_csca(&csca_key, &CscaProfile::new(dn("CSCA"), NOW)).unwrap();
    let dsc_key = PrivateKey::generate(KeyAlgorithm::EcP256).unwrap();
    let csr = VerifiedCsr::verify(&cert::create_csr(&dsc_key, &dn("DSC")).unwrap()).unwrap();
    let dsc = cert::issue_dsc(
        &csca,
        &csca_key,
        &csr,
        &DscProfile::new(&CertificateType::ALL, NOW),
    )
    .unwrap();
    let tls_key = PrivateKey::generate(KeyAlgorithm::EcP256).unwrap();
    let csr = VerifiedCsr::verify(&cert::create_csr(&tls_key, &dn("TLS")).unwrap()).unwrap();
    let tls = cert::issue_trust_list_signer(
        &csca,
        &csca_key,
        &csr,
        &TrustListSignerProfile::new(dn("Trust List Signer"), NOW),
    )
    .unwrap();
    Fixture {
        csca,
        signer: SoftwareSigner::new(&tls_key, tls).unwrap(),
        dsc,
    }
}

fn signed(f: &Fixture, sequence: u64) -> Vec<u8> {
    let entry = Entry::from_certificate(&f.dsc, None, EntryAnchor::National).unwrap();
    let list = publish::assemble(
        "VN",
        vec![entry],
        sequence,
        NOW,
        &BuildOptions::default(),
        &f.signer,
    );
    publish::sign(&list, &f.signer).unwrap()
}

async fn get(
    app: &axum::Router,
    uri: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let mut req = Request::builder().uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (status, headers, body)
}

#[tokio::test]
async fn etag_304_since_and_json() {
    let f = fixture();
    let list = signed(&f, 3);
    let state = TrustListState::verified(list.clone(), &f.csca, NOW, 600).unwrap();
    let app = router(state.clone());

    let (status, h, body) = get(&app, "/trust-list", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, list, "the signed bytes, unchanged");
    assert_eq!(h[header::CONTENT_TYPE], "application/cose");
    assert_eq!(
        h[header::CACHE_CONTROL],
        "public, max-age=600, no-transform"
    );
    assert_eq!(h["x-trust-list-sequence"], "3");
    let etag = h[header::ETAG].to_str().unwrap().to_owned();
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() == 34,
        "{etag}"
    );
    // What the client downloaded verifies.
    let v = verify(&body, &f.csca, NOW, None, &TrustListPolicy::default()).unwrap();
    assert_eq!(v.list().sequence, 3);

    // Same ETag → 304 without a body (also in a list, also weak-compared, also `*`).
    for inm in [
        etag.clone(),
        format!("\"x\", {etag}"),
        format!("W/{etag}"),
        "*".into(),
    ] {
        let (status, h, body) = get(&app, "/trust-list", &[("if-none-match", &inm)]).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED, "{inm}");
        assert!(body.is_empty());
        assert_eq!(h[header::ETAG], etag.as_str());
        assert_eq!(
            h[header::CACHE_CONTROL],
            "public, max-age=600, no-transform"
        );
    }
    // Another ETag → 200.
    let (status, _, _) = get(&app, "/trust-list", &[("if-none-match", "\"old\"")]).await;
    assert_eq!(status, StatusCode::OK);

    // since = current → 204; older → the full list; junk → 400.
    let (status, h, body) = get(&app, "/trust-list?since=3", &[]).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(body.is_empty());
    assert_eq!(h["x-trust-list-sequence"], "3");
    let (status, _, body) = get(&app, "/trust-list?since=1", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, list);
    let (status, _, body) = get(&app, "/trust-list?since=9", &[]).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a client ahead of the server gets the list"
    );
    assert_eq!(body, list);
    let (status, _, _) = get(&app, "/trust-list?since=abc", &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // JSON rendition with its own ETag.
    let (status, h, body) = get(&app, "/trust-list.json", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h[header::CONTENT_TYPE], "application/json");
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["sequence"], 3);
    assert_eq!(json["entries"][0]["certificateType"], "DSC");
    let json_etag = h[header::ETAG].to_str().unwrap().to_owned();
    assert_ne!(json_etag, etag);
    let (status, _, _) = get(&app, "/trust-list.json", &[("if-none-match", &json_etag)]).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);

    // HEAD: headers, no body.
    let resp = app
        .clone()
        .oneshot(
            Request::builder()
                .method("HEAD")
                .uri("/trust-list")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[header::ETAG], etag.as_str());

    // A new list: the old ETag no longer matches; rollback refused by the state.
    state.publish(signed(&f, 4)).unwrap();
    let (status, h, _) = get(&app, "/trust-list", &[("if-none-match", &etag)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h["x-trust-list-sequence"], "4");
    assert!(state.publish(signed(&f, 2)).is_err());
    assert_eq!(state.sequence(), 4);

    // A client holding list 3 that accepts deltas gets one; it rebuilds list 4 exactly.
    let accept = (
        "accept",
        vaxpass_verifier::trustlist::delta::DELTA_CONTENT_TYPE,
    );
    let (status, h, delta) = get(&app, "/trust-list?since=3", &[accept]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        h[header::CONTENT_TYPE],
        vaxpass_verifier::trustlist::delta::DELTA_CONTENT_TYPE
    );
    assert_eq!(h[header::VARY], "accept");
    let (_, _, full) = get(&app, "/trust-list", &[]).await;
    assert!(
        delta.len() < full.len(),
        "{} >= {}",
        delta.len(),
        full.len()
    );
    let rebuilt = vaxpass_verifier::trustlist::delta::apply_delta(&list, &delta).unwrap();
    assert_eq!(rebuilt, full);
    // Without the Accept, or from an unknown base: the full list.
    let (_, h, body) = get(&app, "/trust-list?since=3", &[]).await;
    assert_eq!(h[header::CONTENT_TYPE], "application/cose");
    assert_eq!(body, full);
    let (_, h, _) = get(&app, "/trust-list?since=1", &[accept]).await;
    assert_eq!(h[header::CONTENT_TYPE], "application/cose");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_re_signs_before_expiry() {
    use std::sync::Arc;
    use vaxpass_keys::dev::{DevOptions, dev_init};
    use vaxpass_keys::manifest::Secrets;
    use vaxpass_trust_list::publish::Publisher;
    let tmp = tempfile::tempdir().unwrap();
    let start = Timestamp::from_unix_seconds(Timestamp::now().unix_seconds() - 60);
    dev_init(tmp.path(), &DevOptions::new(start)).unwrap();
    let publisher =
        Publisher::open(tmp.path(), &Secrets::default(), BuildOptions::default()).unwrap();
    let (list, signed) = publisher.publish(Timestamp::now()).unwrap();
    assert_eq!(list.sequence, 1);
    let state = TrustListState::new(signed, 60).unwrap();
    let task = vaxpass_trust_list::http::spawn_refresh(
        state.clone(),
        Arc::new(publisher),
        std::time::Duration::from_millis(50),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while state.sequence() < 3 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    task.abort();
    assert!(state.sequence() >= 3, "sequence {}", state.sequence());
    // Every re-signed list verifies against the key directory's CSCA.
    let csca = vaxpass_keys::storage::read_certificate(&tmp.path().join("csca.pem"))
        .unwrap()
        .0;
    let (_, _, body) = get(&router(state), "/trust-list", &[]).await;
    verify(
        &body,
        &csca,
        Timestamp::now(),
        None,
        &TrustListPolicy::default(),
    )
    .unwrap();
}
