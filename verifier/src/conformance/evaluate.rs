//! Evaluating one flag of one test case with this crate's stages.
//! (Wired to the codec stages when they land; until then every flag reports that.)

use super::{Flag, TestCase};

pub(super) fn evaluate(case: &TestCase, flag: Flag) -> Result<(), String> {
    match flag {
        Flag::PictureDecode => {
            let picture = case.picture.as_deref().ok_or("no 2DCODE picture")?;
            let prefix = case.prefix.as_deref().ok_or("no PREFIX")?;
            let text = crate::qr::decode_image(picture).map_err(|e| e.to_string())?;
            if text == prefix {
                Ok(())
            } else {
                Err("picture decodes to a different text than PREFIX".into())
            }
        }
        _ => Err("not evaluated yet".into()),
    }
}
