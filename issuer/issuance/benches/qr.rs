//! QR images of a real signed certificate, side by side in one run:
//! - `qrcode_image_png`: the `qrcode` crate's own path (`render::<Luma<u8>>()` into an 8-bit
//!   `image` buffer, then the `image` crate's PNG encoder);
//! - `vaxpass_png`: [`vaxpass_issuer_issuance::qr::render_png`] (same matrix, drawn straight into a
//!   1-bit PNG);
//! - `matrix_only` (the encoder's share of both) and `vaxpass_svg`.
//!
//! Both PNGs are 4 pixels per module with a 4-module quiet zone at level Q.
//!
//! `cargo bench -p vaxpass-issuer-issuance --bench qr`
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::io::Cursor;

use criterion::{Criterion, criterion_group, criterion_main};
use vaxpass_issuer_issuance::encode::Encoder;
use vaxpass_issuer_issuance::qr::{Ecc, QrMatrix, QrOptions, render_png, render_svg};
use vaxpass_keys::CertificateType;
use vaxpass_keys::dev::{DevOptions, dev_init};
use vaxpass_keys::manifest::{Manifest, Secrets};
use vaxpass_verifier::Timestamp;
use vaxpass_verifier::encode::IssueClaims;
use vaxpass_verifier::model::{Dcc, Entries, Name, Vaccination};

/// A certificate signed with a development DSC, as the issuer signs them.
fn signed_hc1() -> String {
    let start = 1_780_000_000;
    let keys = tempfile::tempdir().unwrap();
    let init = dev_init(
        keys.path(),
        &DevOptions::new(Timestamp::from_unix_seconds(start)),
    )
    .unwrap();
    let manifest = Manifest::load(&init.manifest_path).unwrap();
    let now = Timestamp::from_unix_seconds(start + 86_400);
    let signer = manifest
        .current_signer(
            keys.path(),
            CertificateType::Vaccination,
            now,
            &Secrets::default(),
        )
        .unwrap();
    let dcc = Dcc {
        ver: "1.3.0".to_owned(),
        nam: Name {
            family_name: Some("Nguyễn".to_owned()),
            family_name_std: Some("NGUYEN".to_owned()),
            given_name: Some("Thị Thanh Hương".to_owned()),
            given_name_std: Some("THI<THANH<HUONG".to_owned()),
        },
        dob: "1985-04-12".to_owned(),
        entries: Entries::Vaccination(vec![Vaccination {
            tg: "840539006".to_owned(),
            vp: "1119349007".to_owned(),
            mp: "EU/1/20/1528".to_owned(),
            ma: "ORG-100030215".to_owned(),
            dn: 2,
            sd: 2,
            dt: "2026-05-01".to_owned(),
            co: "VN".to_owned(),
            is: "Ministry of Health of Viet Nam".to_owned(),
            ci: "URN:UVCI:01:VN:7K3QZ2LMXPA4BRC6D5EFGHJNTW#Q".to_owned(),
        }]),
    };
    let claims = IssueClaims {
        iss: Some("VN"),
        iat: now,
        exp: Timestamp::from_unix_seconds(start + 366 * 86_400),
    };
    let kid = signer.kid();
    Encoder::new()
        .encode_hc1(&dcc.to_cbor(), &claims, signer.algorithm(), &kid, |tbs| {
            signer.sign(tbs)
        })
        .unwrap()
}

fn qrcode_image_png(text: &str) -> Vec<u8> {
    let code = qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::Q).unwrap();
    let picture = code
        .render::<image::Luma<u8>>()
        .module_dimensions(4, 4)
        .quiet_zone(true)
        .build();
    let mut out = Vec::new();
    picture
        .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

fn bench(c: &mut Criterion) {
    let hc1 = signed_hc1();
    let opts = QrOptions {
        ecc: Ecc::Q,
        module_px: 4,
        quiet_zone: 4,
    };
    let ours = render_png(&hc1, &opts).unwrap();
    let theirs = qrcode_image_png(&hc1);
    let m = QrMatrix::encode(&hc1, Ecc::Q).unwrap();
    eprintln!(
        "HC1 of {} characters: QR version {} ({} modules); PNG {} bytes (qrcode + image: {} bytes)",
        hc1.len(),
        m.version(),
        m.width(),
        ours.len(),
        theirs.len()
    );
    let mut g = c.benchmark_group("qr");
    g.bench_function("qrcode_image_png", |b| {
        b.iter(|| qrcode_image_png(black_box(&hc1)))
    });
    g.bench_function("vaxpass_png", |b| {
        b.iter(|| render_png(black_box(&hc1), &opts).unwrap())
    });
    g.bench_function("matrix_only", |b| {
        b.iter(|| QrMatrix::encode(black_box(&hc1), Ecc::Q).unwrap())
    });
    g.bench_function("vaxpass_svg", |b| {
        b.iter(|| render_svg(black_box(&hc1), &opts).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
