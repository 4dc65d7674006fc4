//! The citizens' emails (issue 14): the outcome of a correction report, sent over SMTP from the
//! outbox the storage fills in the outcome's own transaction
//! ([`crate::storage::notices`]).
//!
//! [`spawn_sender`] runs beside the service: every [`NoticeOptions::poll`] it reads the due
//! notices, sends each ([`message`]: Vietnamese first, then English; the report's reference
//! and outcome, nothing else of the person) and marks it sent; a failed attempt is tried again
//! after [`NoticeOptions::retry_min`], doubling up to [`NoticeOptions::retry_max`], however
//! long the SMTP server stays down. With no SMTP server configured nothing is sent: the
//! notices stay in the outbox (the log says how many wait, never the addresses), and are sent
//! once the service runs with `--smtp-host`.
//!
//! The log names a notice by its report's reference only; an SMTP error that quotes the
//! address is logged and stored with the address replaced.

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio::task::JoinHandle;

use crate::storage::Storage;
use crate::storage::notices::{NoticeOutcome, OutboxNotice};

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain SMTP (a relay on the same host or network only). Default port 25.
    None,
    /// `STARTTLS`, required: a server that does not offer it is an error. Default port 587.
    StartTls,
    /// TLS from the first byte (SMTPS). Default port 465.
    Tls,
}

impl SmtpTls {
    /// `none`, `starttls`, `tls`.
    pub fn parse(s: &str) -> Option<SmtpTls> {
        Some(match s {
            "none" => SmtpTls::None,
            "starttls" => SmtpTls::StartTls,
            "tls" => SmtpTls::Tls,
            _ => return None,
        })
    }

    fn default_port(self) -> u16 {
        match self {
            SmtpTls::None => 25,
            SmtpTls::StartTls => 587,
            SmtpTls::Tls => 465,
        }
    }
}

/// The SMTP server the notices go through.
#[derive(Clone)]
pub struct SmtpConfig {
    /// Host name (also the name its TLS certificate must carry).
    pub host: String,
    /// Port; `None`: the TLS mode's default.
    pub port: Option<u16>,
    /// Plain, STARTTLS or TLS.
    pub tls: SmtpTls,
    /// The sender, e.g. `vaxpass <no-reply@vaxpass.example>`.
    pub from: String,
    /// User name and password, if the server wants them (sent only over TLS, see
    /// [`SmtpTls`]: lettre refuses to authenticate in the clear).
    pub credentials: Option<(String, String)>,
    /// A PEM file of extra roots to trust for the server's certificate (besides the Mozilla
    /// roots), e.g. a national relay's own CA.
    pub ca_file: Option<PathBuf>,
    /// The name sent with `EHLO`; `None`: `localhost`.
    pub hello_name: Option<String>,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("from", &self.from)
            .field("credentials", &self.credentials.as_ref().map(|_| "(set)"))
            .field("ca_file", &self.ca_file)
            .finish_non_exhaustive()
    }
}

/// How notices are sent.
#[derive(Debug, Clone)]
pub struct NoticeOptions {
    /// The SMTP server; `None`: notices are kept in the outbox, unsent.
    pub smtp: Option<SmtpConfig>,
    /// How often the outbox is read. Default 10 s.
    pub poll: Duration,
    /// The wait after a first failed attempt; it doubles with each failure. Default 30 s.
    pub retry_min: Duration,
    /// The longest wait between attempts. Default 1 h.
    pub retry_max: Duration,
    /// Timeout of one SMTP exchange. Default 30 s.
    pub timeout: Duration,
}

impl Default for NoticeOptions {
    fn default() -> Self {
        NoticeOptions {
            smtp: None,
            poll: Duration::from_secs(10),
            retry_min: Duration::from_secs(30),
            retry_max: Duration::from_secs(3600),
            timeout: Duration::from_secs(30),
        }
    }
}

/// Why the SMTP configuration cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NoticeError {
    /// `from` is not a mailbox.
    #[error("--smtp-from is not an email address (e.g. \"vaxpass <no-reply@example.vn>\"): {0}")]
    From(String),
    /// The extra roots cannot be read.
    #[error("--smtp-ca {path}: {reason}")]
    Ca {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The TLS parameters cannot be built.
    #[error("SMTP TLS: {0}")]
    Tls(String),
}

/// The email of `notice`, from `from`: subject and body in Vietnamese, then English.
///
/// # Errors
/// The address does not parse (it was checked when the report was filed, so only a damaged
/// row gets here): a text without the address.
pub fn message(notice: &OutboxNotice, from: &Mailbox) -> Result<Message, String> {
    let to: Mailbox = notice
        .email
        .parse()
        .map_err(|_| "the stored address is not an email address".to_owned())?;
    let r = &notice.reference;
    let (vi, en) = match notice.outcome {
        NoticeOutcome::Reissued => (
            format!(
                "Yêu cầu đính chính thông tin tiêm chủng của bạn (mã tham chiếu {r}) đã được \
                 chấp thuận. Thông tin đã được sửa và một chứng nhận mới đã được cấp thay cho \
                 chứng nhận cũ; chứng nhận cũ đã bị thu hồi và không còn giá trị. Bạn có thể \
                 nhận chứng nhận mới trên cổng tra cứu chứng nhận."
            ),
            format!(
                "Your request to correct your vaccination record (reference {r}) was approved. \
                 The record was corrected and a new certificate was issued in place of the old \
                 one; the old certificate is revoked and no longer valid. You can get the new \
                 certificate from the certificate lookup portal."
            ),
        ),
        NoticeOutcome::Accepted => (
            format!(
                "Yêu cầu bổ sung mũi tiêm của bạn (mã tham chiếu {r}) đã được chấp thuận. Cơ sở \
                 tiêm chủng sẽ nhập mũi tiêm; chứng nhận sẽ có trên cổng tra cứu khi được cấp."
            ),
            format!(
                "Your request to add a missing dose (reference {r}) was approved. The \
                 vaccination site will enter the dose; the certificate will be on the lookup \
                 portal once it is issued."
            ),
        ),
        NoticeOutcome::Rejected => (
            format!(
                "Yêu cầu đính chính thông tin tiêm chủng của bạn (mã tham chiếu {r}) đã bị từ \
                 chối. Bạn có thể xem lý do khi tra cứu trạng thái yêu cầu bằng mã tham chiếu \
                 và mã trạng thái được cấp khi gửi yêu cầu."
            ),
            format!(
                "Your request to correct your vaccination record (reference {r}) was rejected. \
                 You can read the reason by checking the request's status with its reference \
                 and the status token you were given when you sent it."
            ),
        ),
    };
    let subject = format!("Kết quả yêu cầu {r} / Outcome of your request {r}");
    let body = format!(
        "Xin chào,\n\n{vi}\n\nThư này được gửi tự động, vui lòng không trả lời.\n\n\
         ----------------------------------------\n\n\
         Hello,\n\n{en}\n\nThis message was sent automatically; please do not reply.\n"
    );
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| format!("the message cannot be built: {e}"))
}

type Transport = AsyncSmtpTransport<Tokio1Executor>;

fn transport(smtp: &SmtpConfig, timeout: Duration) -> Result<Transport, NoticeError> {
    let tls_parameters = || -> Result<TlsParameters, NoticeError> {
        let mut b = TlsParameters::builder(smtp.host.clone());
        if let Some(path) = &smtp.ca_file {
            let ca_err = |reason: String| NoticeError::Ca {
                path: path.clone(),
                reason,
            };
            let pem = std::fs::read(path).map_err(|e| ca_err(e.to_string()))?;
            let cert = Certificate::from_pem(&pem).map_err(|e| ca_err(e.to_string()))?;
            b = b.add_root_certificate(cert);
        }
        b.build_rustls()
            .map_err(|e| NoticeError::Tls(e.to_string()))
    };
    let tls = match smtp.tls {
        SmtpTls::None => Tls::None,
        SmtpTls::StartTls => Tls::Required(tls_parameters()?),
        SmtpTls::Tls => Tls::Wrapper(tls_parameters()?),
    };
    let mut b = Transport::builder_dangerous(smtp.host.clone())
        .port(smtp.port.unwrap_or(smtp.tls.default_port()))
        .tls(tls)
        .timeout(Some(timeout))
        .hello_name(ClientId::Domain(
            smtp.hello_name
                .clone()
                .unwrap_or_else(|| "localhost".into()),
        ));
    if let Some((user, password)) = &smtp.credentials {
        b = b.credentials(Credentials::new(user.clone(), password.clone()));
    }
    Ok(b.build())
}

/// The wait before attempt `attempts + 1` after `attempts` failures.
fn backoff(options: &NoticeOptions, attempts: u32) -> Duration {
    let factor = 1u32.checked_shl(attempts.min(20)).unwrap_or(u32::MAX);
    options
        .retry_min
        .saturating_mul(factor)
        .min(options.retry_max)
        .max(Duration::from_secs(1))
}

/// `text` with every occurrence of `address` replaced (an SMTP answer may quote it).
fn without_address(text: &str, address: &str) -> String {
    if address.is_empty() {
        text.to_owned()
    } else {
        text.replace(address, "<address>")
    }
}

/// Checks `options` and starts the sender (see the module documentation); abort the handle to
/// stop it.
///
/// # Errors
/// [`NoticeError`]: the SMTP configuration cannot be used.
pub fn spawn_sender(
    storage: Storage,
    options: NoticeOptions,
) -> Result<JoinHandle<()>, NoticeError> {
    let mailer = match &options.smtp {
        Some(smtp) => {
            let from: Mailbox = smtp
                .from
                .parse()
                .map_err(|e: lettre::address::AddressError| NoticeError::From(e.to_string()))?;
            Some((transport(smtp, options.timeout)?, from))
        }
        None => {
            tracing::warn!(
                "no SMTP server configured (serve --smtp-host): the citizens' notices are kept in the outbox, not sent"
            );
            None
        }
    };
    Ok(tokio::spawn(async move {
        let mut tick = tokio::time::interval(options.poll.max(Duration::from_millis(50)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut reported_unsent = 0;
        loop {
            tick.tick().await;
            match &mailer {
                Some((transport, from)) => send_due(&storage, &options, transport, from).await,
                None => match storage.notice_counts().await {
                    Ok(c) if c.unsent != reported_unsent => {
                        reported_unsent = c.unsent;
                        if c.unsent > 0 {
                            tracing::warn!(
                                unsent = c.unsent,
                                "citizens' notices waiting in the outbox, not sent: no SMTP server configured"
                            );
                        }
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "reading the notice outbox failed"),
                },
            }
        }
    }))
}

async fn send_due(
    storage: &Storage,
    options: &NoticeOptions,
    transport: &Transport,
    from: &Mailbox,
) {
    let now = storage.clock().now();
    let due = match storage.due_notices(now, 100).await {
        Ok(due) => due,
        Err(e) => {
            tracing::error!(error = %e, "reading the notice outbox failed");
            return;
        }
    };
    for notice in due {
        let sent = match message(&notice, from) {
            Ok(m) => transport
                .send(m)
                .await
                .map(|_| ())
                .map_err(|e| without_address(&e.to_string(), &notice.email)),
            Err(e) => Err(e),
        };
        let marked = match sent {
            Ok(()) => {
                tracing::info!(
                    reference = %notice.reference,
                    outcome = notice.outcome.as_str(),
                    attempt = notice.attempts + 1,
                    "citizen notified by email"
                );
                storage.mark_notice_sent(notice.id).await
            }
            Err(error) => {
                let wait = backoff(options, notice.attempts);
                tracing::warn!(
                    reference = %notice.reference,
                    attempt = notice.attempts + 1,
                    retry_in_s = wait.as_secs(),
                    %error,
                    "sending a citizen's notice failed; it stays in the outbox"
                );
                let next = storage
                    .clock()
                    .now()
                    .saturating_add(i64::try_from(wait.as_secs()).unwrap_or(i64::MAX));
                storage.mark_notice_failed(notice.id, next, &error).await
            }
        };
        if let Err(e) = marked {
            tracing::error!(error = %e, reference = %notice.reference, "updating the notice outbox failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let o = NoticeOptions {
            retry_min: Duration::from_secs(30),
            retry_max: Duration::from_secs(600),
            ..NoticeOptions::default()
        };
        let waits: Vec<u64> = (0..7).map(|a| backoff(&o, a).as_secs()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 600, 600]);
        assert_eq!(backoff(&o, u32::MAX).as_secs(), 600);
    }

    #[test]
    fn the_address_never_reaches_the_log() {
        assert_eq!(
            without_address("550 5.1.1 <an@example.vn>: unknown user", "an@example.vn"),
            "550 5.1.1 <<address>>: unknown user"
        );
    }

    #[test]
    fn the_message_is_vietnamese_first_and_names_only_the_reference() {
        let notice = OutboxNotice {
            id: 1,
            email: "an@example.vn".into(),
            reference: "VXC-0123456789ABCDEF".into(),
            outcome: NoticeOutcome::Rejected,
            attempts: 0,
            created_at: 0,
        };
        let from: Mailbox = "vaxpass <no-reply@example.vn>".parse().unwrap();
        let m = message(&notice, &from).unwrap();
        let text = String::from_utf8(m.formatted()).unwrap();
        assert!(text.contains("To: an@example.vn"), "{text}");
        assert!(
            text.contains("From: vaxpass <no-reply@example.vn>"),
            "{text}"
        );
    }
}
