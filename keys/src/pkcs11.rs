//! Keys on a PKCS#11 token (HSM, smart card, SoftHSM2) through `cryptoki`.
//!
//! - ES256: `CKM_ECDSA` over the SHA-256 digest; tokens return raw `r || s` (PKCS#11 v2.40
//!   §2.3.1), which is exactly the COSE form.
//! - PS256: `CKM_SHA256_RSA_PKCS_PSS`, MGF1-SHA-256, salt 32.
//! - Certificates and CSRs: `CKM_ECDSA` (re-encoded to DER) or `CKM_SHA256_RSA_PKCS`.
//!
//! Private keys are generated on the token as sensitive and non-extractable; they never leave it.
//! A module is loaded and initialized once per process and kept (several tokens and signers
//! share it; finalizing it while another user is alive would break that user).

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, Pkcs11};
use cryptoki::error::RvError;
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use der::asn1::OctetString;
use der::{Decode, Encode};
use sha2::{Digest, Sha256};
use vaxpass_verifier::{Algorithm, Kid};

use crate::Error;
use crate::cert::CertificateInfo;
use crate::key::{CertificateSigningKey, KeyAlgorithm, KeyError, OID_P256, PublicKey};
use crate::signer::{SignError, Signer};
use crate::storage::Passphrase;

/// What went wrong with a token. Never contains the PIN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Pkcs11Error {
    /// The module could not be loaded or initialized.
    #[error("PKCS#11 module {module}: {reason}")]
    Module {
        /// The module path.
        module: PathBuf,
        /// What failed.
        reason: String,
    },
    /// No token with that label.
    #[error(
        "no PKCS#11 token labelled {0:?} (list tokens with `softhsm2-util --show-slots` or `pkcs11-tool -L`)"
    )]
    TokenNotFound(String),
    /// Login refused (wrong PIN, locked token).
    #[error("login to token {token:?} failed: {reason}")]
    Login {
        /// The token label.
        token: String,
        /// The module's reason.
        reason: String,
    },
    /// No key with that label/id.
    #[error("token {token:?} has no {class} key {what}")]
    KeyNotFound {
        /// The token label.
        token: String,
        /// `private` or `public`.
        class: &'static str,
        /// The label/id searched for.
        what: String,
    },
    /// More than one key matches.
    #[error("token {token:?} has several keys {what}; select by id as well")]
    Ambiguous {
        /// The token label.
        token: String,
        /// The label/id searched for.
        what: String,
    },
    /// A token operation failed.
    #[error("PKCS#11 {operation}: {reason}")]
    Operation {
        /// The operation.
        operation: &'static str,
        /// The module's reason.
        reason: String,
    },
}

fn op(operation: &'static str) -> impl Fn(cryptoki::error::Error) -> Pkcs11Error {
    move |e| Pkcs11Error::Operation {
        operation,
        reason: e.to_string(),
    }
}

/// DER of the P-256 named-curve OID, the `CKA_EC_PARAMS` of P-256 keys.
fn p256_params() -> Result<Vec<u8>, Pkcs11Error> {
    OID_P256.to_der().map_err(|e| Pkcs11Error::Operation {
        operation: "encoding EC parameters",
        reason: e.to_string(),
    })
}

fn context(module: &Path) -> Result<Pkcs11, Pkcs11Error> {
    static CONTEXTS: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let err = |reason: String| Pkcs11Error::Module {
        module: module.to_path_buf(),
        reason,
    };
    let mut map = CONTEXTS
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .map_err(|_| err("module table lock poisoned".into()))?;
    if let Some(ctx) = map.get(module) {
        return Ok(ctx.clone());
    }
    let ctx = Pkcs11::new(module).map_err(|e| err(e.to_string()))?;
    match ctx.initialize(CInitializeArgs::OsThreads) {
        Ok(()) => {}
        Err(cryptoki::error::Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(err(e.to_string())),
    }
    map.insert(module.to_path_buf(), ctx.clone());
    Ok(ctx)
}

/// An open, logged-in session on one token.
#[derive(Clone)]
pub struct Token {
    session: Arc<Mutex<Session>>,
    label: String,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token").field("label", &self.label).finish()
    }
}

impl Token {
    /// Loads `module` (once per process), finds the token labelled `token_label`, opens a
    /// read-write session and logs in as the user with `pin`.
    ///
    /// # Errors
    /// [`Pkcs11Error::Module`], [`Pkcs11Error::TokenNotFound`], [`Pkcs11Error::Login`].
    pub fn open(module: &Path, token_label: &str, pin: &Passphrase) -> Result<Self, Pkcs11Error> {
        let ctx = context(module)?;
        let slots = ctx.get_slots_with_token().map_err(op("listing slots"))?;
        let mut found = None;
        for slot in slots {
            let info = ctx.get_token_info(slot).map_err(op("reading token info"))?;
            if info.label().trim_end() == token_label {
                found = Some(slot);
                break;
            }
        }
        let slot = found.ok_or_else(|| Pkcs11Error::TokenNotFound(token_label.to_owned()))?;
        let session = ctx.open_rw_session(slot).map_err(op("opening a session"))?;
        let auth = AuthPin::new(pin.expose_secret().to_owned());
        match session.login(UserType::User, Some(&auth)) {
            Ok(()) => {}
            Err(cryptoki::error::Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(e) => {
                return Err(Pkcs11Error::Login {
                    token: token_label.to_owned(),
                    reason: e.to_string(),
                });
            }
        }
        Ok(Token {
            session: Arc::new(Mutex::new(session)),
            label: token_label.to_owned(),
        })
    }

    /// The token label.
    pub fn label(&self) -> &str {
        &self.label
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Session>, Pkcs11Error> {
        self.session.lock().map_err(|_| Pkcs11Error::Operation {
            operation: "locking the session",
            reason: "lock poisoned by a panic in another thread".into(),
        })
    }

    /// Generates a key pair on the token: P-256 or RSA (2048/3072/4096, e = 65537). The private
    /// key is a token object, private, sensitive and not extractable.
    ///
    /// # Errors
    /// [`Pkcs11Error::Operation`].
    pub fn generate_key_pair(
        &self,
        algorithm: KeyAlgorithm,
        label: &str,
        id: &[u8],
    ) -> Result<TokenKey, Error> {
        let common = |v: &mut Vec<Attribute>| {
            v.push(Attribute::Token(true));
            v.push(Attribute::Label(label.as_bytes().to_vec()));
            v.push(Attribute::Id(id.to_vec()));
        };
        let mut public = vec![Attribute::Verify(true), Attribute::Private(false)];
        common(&mut public);
        let mut private = vec![
            Attribute::Sign(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
        ];
        common(&mut private);
        let mechanism = match algorithm.rsa_bits() {
            None => {
                public.push(Attribute::EcParams(p256_params()?));
                Mechanism::EccKeyPairGen
            }
            Some(bits) => {
                public.push(Attribute::ModulusBits((bits as u64).into()));
                public.push(Attribute::PublicExponent(vec![0x01, 0x00, 0x01]));
                Mechanism::RsaPkcsKeyPairGen
            }
        };
        let (pub_handle, priv_handle) = self
            .lock()?
            .generate_key_pair(&mechanism, &public, &private)
            .map_err(op("generating a key pair"))?;
        let public_key = self.read_public_key(pub_handle)?;
        Ok(TokenKey {
            token: self.clone(),
            private: priv_handle,
            public: public_key,
            label: label.to_owned(),
        })
    }

    /// Finds a key pair by label and/or id (the private key, and the public key object with the
    /// same label/id for the public half).
    ///
    /// # Errors
    /// [`Pkcs11Error::KeyNotFound`], [`Pkcs11Error::Ambiguous`], [`Pkcs11Error::Operation`],
    /// [`KeyError::UnsupportedPublicKey`].
    pub fn find_key(&self, label: Option<&str>, id: Option<&[u8]>) -> Result<TokenKey, Error> {
        let what = match (label, id) {
            (Some(l), Some(i)) => format!("label {l:?} id {}", hex_lower(i)),
            (Some(l), None) => format!("label {l:?}"),
            (None, Some(i)) => format!("id {}", hex_lower(i)),
            (None, None) => "(no label or id given)".to_owned(),
        };
        if label.is_none() && id.is_none() {
            return Err(Pkcs11Error::KeyNotFound {
                token: self.label.clone(),
                class: "private",
                what,
            }
            .into());
        }
        let find = |class: ObjectClass, class_name: &'static str| -> Result<ObjectHandle, Error> {
            let mut template = vec![Attribute::Class(class)];
            if let Some(l) = label {
                template.push(Attribute::Label(l.as_bytes().to_vec()));
            }
            if let Some(i) = id {
                template.push(Attribute::Id(i.to_vec()));
            }
            let handles = self
                .lock()?
                .find_objects(&template)
                .map_err(op("finding objects"))?;
            match handles.as_slice() {
                [h] => Ok(*h),
                [] => Err(Pkcs11Error::KeyNotFound {
                    token: self.label.clone(),
                    class: class_name,
                    what: what.clone(),
                }
                .into()),
                _ => Err(Pkcs11Error::Ambiguous {
                    token: self.label.clone(),
                    what: what.clone(),
                }
                .into()),
            }
        };
        let private = find(ObjectClass::PRIVATE_KEY, "private")?;
        let public = find(ObjectClass::PUBLIC_KEY, "public")?;
        let public_key = self.read_public_key(public)?;
        Ok(TokenKey {
            token: self.clone(),
            private,
            public: public_key,
            label: label.map(str::to_owned).unwrap_or_default(),
        })
    }

    fn read_public_key(&self, handle: ObjectHandle) -> Result<PublicKey, Error> {
        let session = self.lock()?;
        let kind = session
            .get_attributes(handle, &[AttributeType::KeyType])
            .map_err(op("reading the key type"))?;
        let key_type = kind.iter().find_map(|a| match a {
            Attribute::KeyType(t) => Some(*t),
            _ => None,
        });
        let unsupported = |s: &str| Error::from(KeyError::UnsupportedPublicKey(s.to_owned()));
        if key_type == Some(KeyType::EC) {
            let attrs = session
                .get_attributes(handle, &[AttributeType::EcParams, AttributeType::EcPoint])
                .map_err(op("reading the EC public key"))?;
            let mut params = None;
            let mut point = None;
            for a in attrs {
                match a {
                    Attribute::EcParams(p) => params = Some(p),
                    Attribute::EcPoint(p) => point = Some(p),
                    _ => {}
                }
            }
            if params != Some(p256_params()?) {
                return Err(unsupported("token EC key is not on P-256"));
            }
            let point = point.ok_or_else(|| unsupported("token EC key without CKA_EC_POINT"))?;
            // PKCS#11 says CKA_EC_POINT is a DER OCTET STRING; some tokens return the raw point.
            let raw = if point.len() == 65 && point[0] == 0x04 {
                point
            } else {
                OctetString::from_der(&point)
                    .map_err(|_| unsupported("malformed CKA_EC_POINT"))?
                    .into_bytes()
            };
            let key = p256::PublicKey::from_sec1_bytes(&raw)
                .map_err(|_| unsupported("CKA_EC_POINT is not a P-256 point"))?;
            Ok(PublicKey::EcP256(key))
        } else if key_type == Some(KeyType::RSA) {
            let attrs = session
                .get_attributes(
                    handle,
                    &[AttributeType::Modulus, AttributeType::PublicExponent],
                )
                .map_err(op("reading the RSA public key"))?;
            let mut n = None;
            let mut e = None;
            for a in attrs {
                match a {
                    Attribute::Modulus(v) => n = Some(v),
                    Attribute::PublicExponent(v) => e = Some(v),
                    _ => {}
                }
            }
            let (Some(n), Some(e)) = (n, e) else {
                return Err(unsupported("token RSA key without modulus or exponent"));
            };
            let key = rsa::RsaPublicKey::new(
                rsa::BigUint::from_bytes_be(&n),
                rsa::BigUint::from_bytes_be(&e),
            )
            .map_err(|e| unsupported(&format!("token RSA key: {e}")))?;
            // Round-trip through SPKI to apply the size rules.
            let spki = PublicKey::Rsa(key).to_spki()?;
            Ok(PublicKey::from_spki(&spki)?)
        } else {
            Err(unsupported("token key is neither EC nor RSA"))
        }
    }
}

/// A private key on a token, with its public half.
pub struct TokenKey {
    token: Token,
    private: ObjectHandle,
    public: PublicKey,
    label: String,
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenKey")
            .field("token", &self.token.label)
            .field("label", &self.label)
            .field("algorithm", &self.public.algorithm())
            .finish()
    }
}

impl TokenKey {
    /// The public key.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    fn raw_sign(&self, mechanism: &Mechanism, data: &[u8]) -> Result<Vec<u8>, SignError> {
        let session = self
            .token
            .lock()
            .map_err(|e| SignError::Backend(e.to_string()))?;
        session
            .sign(mechanism, self.private, data)
            .map_err(|e| SignError::Backend(format!("PKCS#11 sign: {e}")))
    }

    fn ecdsa_raw(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        let digest = Sha256::digest(message);
        let sig = self.raw_sign(&Mechanism::Ecdsa, &digest)?;
        if sig.len() != 64 {
            return Err(SignError::BadLength {
                got: sig.len(),
                expected: 64,
            });
        }
        Ok(sig)
    }

    /// Signs as PS256 / ES256 (COSE form).
    fn cose_sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        match self.public {
            PublicKey::EcP256(_) => self.ecdsa_raw(message),
            PublicKey::Rsa(_) => {
                let params = PkcsPssParams {
                    hash_alg: MechanismType::SHA256,
                    mgf: PkcsMgfType::MGF1_SHA256,
                    s_len: 32u64.into(),
                };
                self.raw_sign(&Mechanism::Sha256RsaPkcsPss(params), message)
            }
        }
    }

    /// A [`Signer`] for this key and its DSC (DER).
    ///
    /// # Errors
    /// [`KeyError::Mismatch`] if the certificate is for another key; parse errors.
    pub fn into_signer(self, certificate_der: Vec<u8>) -> Result<Pkcs11Signer, Error> {
        let info = CertificateInfo::parse(&certificate_der)?;
        if info.public_key != self.public {
            return Err(KeyError::Mismatch {
                what: format!("certificate {}", info.subject_text()),
            }
            .into());
        }
        Ok(Pkcs11Signer {
            algorithm: self.public.algorithm().hcert_algorithm(),
            key: self,
            kid: info.kid,
            certificate: certificate_der,
        })
    }
}

impl CertificateSigningKey for TokenKey {
    fn public_key(&self) -> Result<PublicKey, Error> {
        Ok(self.public.clone())
    }

    fn sign_x509(&self, tbs: &[u8]) -> Result<Vec<u8>, SignError> {
        match self.public {
            PublicKey::EcP256(_) => {
                let raw = self.ecdsa_raw(tbs)?;
                let sig = p256::ecdsa::Signature::from_slice(&raw)
                    .map_err(|e| SignError::Backend(format!("token ECDSA signature: {e}")))?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
            PublicKey::Rsa(_) => self.raw_sign(&Mechanism::Sha256RsaPkcs, tbs),
        }
    }
}

/// A [`Signer`] whose key stays on a PKCS#11 token.
pub struct Pkcs11Signer {
    key: TokenKey,
    algorithm: Algorithm,
    kid: Kid,
    certificate: Vec<u8>,
}

impl fmt::Debug for Pkcs11Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Signer")
            .field("key", &self.key)
            .field("algorithm", &self.algorithm)
            .field("kid", &self.kid)
            .finish()
    }
}

impl Signer for Pkcs11Signer {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    fn kid(&self) -> Kid {
        self.kid
    }

    fn certificate_der(&self) -> &[u8] {
        &self.certificate
    }

    fn sign(&self, tbs: &[u8]) -> Result<Vec<u8>, SignError> {
        self.key.cose_sign(tbs)
    }
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
