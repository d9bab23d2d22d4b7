//! Opening a PDF: lopdf loads it from memory (decrypting it when the empty user password opens
//! it), and what it cannot use is refused here with a reason — an encrypted document, a file cut
//! short — before any page is read. Also the document's title, from its Info dictionary.

use lopdf::Document;
use lopdf::xref::XrefRecovery;

use super::{MAX_LOAD_STREAM_BYTES, corrupt};
use crate::ingest::parse::{ParseError, collapse_whitespace};

pub(super) fn load(bytes: &[u8]) -> Result<Document, ParseError> {
    let options = lopdf::LoadOptions {
        max_decompressed_size: Some(MAX_LOAD_STREAM_BYTES),
        ..lopdf::LoadOptions::default()
    };
    let doc = Document::load_mem_with_options(bytes, options).map_err(|error| match error {
        lopdf::Error::Decryption(_)
        | lopdf::Error::InvalidPassword
        | lopdf::Error::UnsupportedSecurityHandler(_) => ParseError::EncryptedPdf,
        error => corrupt(error.to_string()),
    })?;
    // lopdf opens a document whose empty user password works and drops /Encrypt; one that
    // needs a real password loads with /Encrypt still there and nothing readable.
    if doc.trailer.has(b"Encrypt") {
        return Err(ParseError::EncryptedPdf);
    }
    // lenient loading rebuilds a lost cross-reference table by scanning for objects, which
    // "succeeds" on half a file: without the end marker too, the upload was cut short, and
    // indexing half a document would silently lose the rest.
    if doc.xref_recovery == Some(XrefRecovery::Reconstructed) && !has_eof_marker(bytes) {
        return Err(corrupt(
            "the file is cut short: it has no %%EOF marker and no cross-reference table",
        ));
    }
    Ok(doc)
}

fn has_eof_marker(bytes: &[u8]) -> bool {
    let tail = &bytes[bytes.len().saturating_sub(2048)..];
    crate::ingest::parse::find(tail, b"%%EOF").is_some()
}

/// The Info dictionary's `/Title`, if present and not blank.
pub(super) fn info_title(doc: &Document) -> Option<String> {
    let info = doc.trailer.get(b"Info").ok()?;
    let info = doc.dereference(info).ok()?.1.as_dict().ok()?;
    let title = doc.dereference(info.get(b"Title").ok()?).ok()?.1;
    let bytes = title.as_str().ok()?;
    // Some producers write UTF-8 where PDFDocEncoding (Latin) belongs; valid UTF-8 with
    // non-ASCII characters is almost never PDFDocEncoding text, so read it as UTF-8.
    let text = match std::str::from_utf8(bytes) {
        Ok(text) if !text.is_ascii() && !bytes.starts_with(b"\xFE\xFF") => text.to_owned(),
        _ => lopdf::decode_text_string(title).ok()?,
    };
    let title = collapse_whitespace(&text);
    (!title.is_empty()).then_some(title)
}

#[cfg(test)]
mod tests {
    use super::super::samples::{document, pdf, save, text_page};
    use super::super::{blocks, parse_ok};
    use crate::ingest::parse::{ParseError, ParseLimits};
    use lopdf::{Object, StringFormat, dictionary};

    fn limits() -> ParseLimits {
        ParseLimits::default()
    }

    #[test]
    fn the_info_title_becomes_the_title() {
        let mut doc = document(&[text_page(&["Body"])]);
        let info =
            doc.add_object(dictionary! { "Title" => Object::string_literal("  Annual   Report ") });
        doc.trailer.set("Info", info);
        assert_eq!(
            parse_ok(&save(&mut doc)).title.as_deref(),
            Some("Annual Report")
        );

        let mut doc = document(&[text_page(&["Body"])]);
        let info = doc.add_object(dictionary! { "Title" => lopdf::text_string("年度报告") });
        doc.trailer.set("Info", info);
        assert_eq!(parse_ok(&save(&mut doc)).title.as_deref(), Some("年度报告"));

        let mut doc = document(&[text_page(&["Body"])]);
        let info = doc.add_object(dictionary! { "Title" => Object::string_literal(" ") });
        doc.trailer.set("Info", info);
        assert_eq!(parse_ok(&save(&mut doc)).title, None);
    }

    #[test]
    fn a_truncated_pdf_is_corrupt() {
        let bytes = pdf(&[
            text_page(&["one"]),
            text_page(&["two"]),
            text_page(&["three"]),
        ]);
        let err =
            crate::ingest::parse::parse(&bytes[..bytes.len() / 2], Some("doc.pdf"), &limits())
                .unwrap_err();
        assert!(matches!(err, ParseError::CorruptPdf { .. }), "{err}");
        assert!(
            err.to_string().ends_with(": re-export it and upload again"),
            "{err}"
        );
    }

    #[test]
    fn garbage_after_the_header_is_corrupt() {
        let mut bytes = b"%PDF-1.7\n".to_vec();
        let mut x = 7_u32;
        for _ in 0..4000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            bytes.push(x.to_be_bytes()[1]);
        }
        let err = crate::ingest::parse::parse(&bytes, None, &limits()).unwrap_err();
        assert!(matches!(err, ParseError::CorruptPdf { .. }), "{err}");
        let err = crate::ingest::parse::parse(b"%PDF-1.4\n%%EOF\n", None, &limits()).unwrap_err();
        assert!(matches!(err, ParseError::CorruptPdf { .. }), "{err}");
    }

    fn encrypted(user_password: &str) -> Vec<u8> {
        let mut doc = document(&[text_page(&["Secret text"])]);
        let id = Object::String(b"0123456789abcdef".to_vec(), StringFormat::Literal);
        doc.trailer.set("ID", vec![id.clone(), id]);
        let state = lopdf::EncryptionState::try_from(lopdf::EncryptionVersion::V2 {
            document: &doc,
            owner_password: "owner",
            user_password,
            key_length: 128,
            permissions: lopdf::Permissions::all(),
        })
        .unwrap();
        doc.encrypt(&state).unwrap();
        save(&mut doc)
    }

    #[test]
    fn an_encrypted_pdf_needing_a_password_is_refused() {
        let err = crate::ingest::parse::parse(&encrypted("secret"), None, &limits()).unwrap_err();
        assert!(matches!(err, ParseError::EncryptedPdf), "{err}");
        assert_eq!(
            err.to_string(),
            "the PDF is encrypted: upload a copy without a password"
        );
    }

    #[test]
    fn an_encrypted_pdf_with_an_empty_user_password_is_decrypted() {
        let parsed = parse_ok(&encrypted(""));
        assert_eq!(blocks(&parsed), [(Some(1), "Secret text")]);
    }
}
