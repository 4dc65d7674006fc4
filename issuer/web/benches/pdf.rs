//! The time to make the PDF of one paper certificate (goal: at most 20 ms), with a QR code of
//! the size a real certificate has (a 526-character HC1 string: version 17 at level Q).
//!
//! `cargo bench -p vaxpass-issuer-web --bench pdf`
#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use vaxpass_issuer_web::pdf::{PaperCertificate, render};

/// A Base45 text of a real certificate's length (the QR's size and the drawing depend on the
/// length and the alphabet only).
fn hc1_like(len: usize) -> String {
    const BASE45: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
    let mut state = 0x2545_f491_u32;
    let mut s = String::from("HC1:");
    while s.len() < len {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        s.push(BASE45[(state % 45) as usize] as char);
    }
    s
}

fn bench(c: &mut Criterion) {
    let hc1 = hc1_like(526);
    let cert = PaperCertificate {
        holder: "Nguyễn Thị Thuỳ Dương",
        transliterated: "NGUYEN THI THUY DUONG",
        date_of_birth: "27/03/1985",
        vaccine: "Comirnaty",
        dose: (2, 2),
        vaccination_date: "01/09/2021",
        country: "VN",
        issuer: "Bộ Y tế (Ministry of Health)",
        valid_until: "01/09/2022",
        uvci: "URN:UVCI:01:VN:7K3QX9RZ2M4T8WJ5#Q",
        hc1: &hc1,
    };
    let size = render(&cert).unwrap().len();
    println!("one paper certificate: {size} bytes of PDF");
    c.bench_function("pdf/paper_certificate", |b| {
        b.iter(|| render(&cert).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
