//! Opening a PDF: lopdf loads it from memory (decrypting it when the empty user password opens
//! it), what it cannot use is refused here with a reason (an encrypted document, a file in which
//! no page survives), and the pages to read are listed. Also the document's title, from its Info
//! dictionary.
//!
//! # Truncated files
//!
//! A file cut short (a broken download) has lost its end, where the cross-reference table and the
//! trailer are, and with most writers the catalog too. lopdf's lenient loading rebuilds the table
//! by scanning for `N G obj … endobj` objects when a trailer or the catalog survives; when neither
//! does, [`load`] appends a catalog and a trailer of its own to the objects that are whole and
//! loads that. The page tree is then found among the objects that survived, and only the pages
//! whose objects all survived (their content streams, and everything their resources lead to:
//! fonts, `CMaps`, forms) are read; the cut page and those after it are left out rather than
//! guessed at. The caller is told how many pages were kept, to say so in the job.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use lopdf::xref::XrefRecovery;
use lopdf::{Dictionary, Document, Object, ObjectId};

use super::{MAX_LOAD_STREAM_BYTES, corrupt};
use crate::ingest::parse::{ParseError, collapse_whitespace};

/// Objects looked at, for all pages of a truncated file together, to decide which pages are
/// whole; the pages not yet decided when it runs out are taken as not whole.
const MAX_OBJECTS_CHECKED: usize = 1 << 22;
/// lopdf's reconstruction ignores objects numbered higher (its `MAX_RECONSTRUCTED_OBJECTS`).
/// The catalog and page tree added to a truncated file take the two highest numbers it keeps.
const MAX_RECONSTRUCTED_OBJECT_NUMBER: u32 = 1_000_000;

/// A document ready to read.
pub(super) struct Loaded {
    pub(super) doc: Document,
    /// The pages to read, by 1-based page number.
    pub(super) pages: BTreeMap<u32, ObjectId>,
    /// Pages in the document, including those of a truncated file that are not read.
    pub(super) page_count: u32,
    /// For a file cut short, what the user is told about it.
    pub(super) truncation: Option<String>,
}

/// Loads a document and lists the pages to read: all of them, or for a file cut short those
/// that survived whole (see the module's documentation).
pub(super) fn load(bytes: &[u8]) -> Result<Loaded, ParseError> {
    let cut_short = !has_eof_marker(bytes);
    let (mut doc, added) = match open(bytes, false) {
        Ok(doc) => (doc, None),
        // Neither a trailer nor the catalog survived the cut, so lopdf found no way in.
        Err(error @ ParseError::CorruptPdf { .. }) if cut_short => match open_with_catalog(bytes) {
            Some((doc, added)) => (doc, Some(added)),
            None => return Err(error),
        },
        Err(error) => return Err(error),
    };
    // lopdf opens a document whose empty user password works and drops /Encrypt; one that
    // needs a real password loads with /Encrypt still there and nothing readable.
    if doc.trailer.has(b"Encrypt") {
        return Err(ParseError::EncryptedPdf);
    }
    // Lenient loading rebuilds a lost cross-reference table by scanning for objects, which
    // "succeeds" on half a file: without the end marker too, the upload was cut short, and only
    // the pages that survived whole can be read.
    if cut_short && doc.xref_recovery == Some(XrefRecovery::Reconstructed) {
        return whole_pages(&mut doc, added.as_ref()).map(|(pages, page_count, truncation)| {
            Loaded {
                doc,
                pages,
                page_count,
                truncation: Some(truncation),
            }
        });
    }
    let pages = doc.get_pages();
    let page_count = u32::try_from(pages.len()).unwrap_or(u32::MAX);
    Ok(Loaded {
        doc,
        pages,
        page_count,
        truncation: None,
    })
}

/// lopdf's lenient load, with `force_reconstruct` to rebuild the cross-reference table from the
/// objects found rather than read it.
fn open(bytes: &[u8], force_reconstruct: bool) -> Result<Document, ParseError> {
    let options = lopdf::LoadOptions {
        max_decompressed_size: Some(MAX_LOAD_STREAM_BYTES),
        force_reconstruct,
        ..lopdf::LoadOptions::default()
    };
    Document::load_mem_with_options(bytes, options).map_err(|error| match error {
        lopdf::Error::Decryption(_)
        | lopdf::Error::InvalidPassword
        | lopdf::Error::UnsupportedSecurityHandler(_) => ParseError::EncryptedPdf,
        error => corrupt(error.to_string()),
    })
}

fn has_eof_marker(bytes: &[u8]) -> bool {
    let tail = &bytes[bytes.len().saturating_sub(2048)..];
    crate::ingest::parse::find(tail, b"%%EOF").is_some()
}

/// The objects of a truncated file that lopdf found no way into, loaded through a catalog (with
/// an empty page tree) and a trailer appended after the last whole object; returns the document
/// and the ids of the two objects added. `None` when no object is whole, or the file was
/// encrypted (its key went with the trailer).
fn open_with_catalog(bytes: &[u8]) -> Option<(Document, [ObjectId; 2])> {
    const END: &[u8] = b"endobj";
    let end = bytes.windows(END.len()).rposition(|w| w == END)? + END.len();
    let whole = &bytes[..end];
    // The highest numbers lopdf keeps, so that they are not those of objects lost in the cut,
    // which the page tree still refers to.
    let (pages, catalog) = (
        MAX_RECONSTRUCTED_OBJECT_NUMBER - 1,
        MAX_RECONSTRUCTED_OBJECT_NUMBER,
    );
    if highest_object_number(whole)? >= pages {
        return None;
    }
    let mut patched = whole.to_vec();
    write!(
        patched,
        "\n{pages} 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n\
         {catalog} 0 obj\n<< /Type /Catalog /Pages {pages} 0 R >>\nendobj\n\
         trailer\n<< /Size {} /Root {catalog} 0 R >>\n%%EOF\n",
        catalog + 1
    )
    .ok()?;
    let doc = open(&patched, true).ok()?;
    let added = [(pages, 0), (catalog, 0)];
    let found = doc.xref_recovery == Some(XrefRecovery::Reconstructed)
        && doc.trailer.get(b"Root").and_then(Object::as_reference).ok() == Some(added[1]);
    let encrypted = doc.objects.values().any(|object| {
        object.as_dict().is_ok_and(|dict| {
            dict.get(b"Filter").and_then(Object::as_name).ok() == Some(b"Standard")
                && dict.has(b"O")
                && dict.has(b"U")
        })
    });
    (found && !encrypted).then_some((doc, added))
}

/// The highest `N` of the `N G obj` headers that start a line, up to the highest lopdf keeps.
fn highest_object_number(bytes: &[u8]) -> Option<u32> {
    let mut highest = None;
    for line in bytes.split(|&b| b == b'\n' || b == b'\r') {
        let line = line.trim_ascii_start();
        let mut words = line
            .split(u8::is_ascii_whitespace)
            .filter(|w| !w.is_empty());
        let (Some(number), Some(generation), Some(keyword)) =
            (words.next(), words.next(), words.next())
        else {
            continue;
        };
        let is_number =
            |w: &[u8]| !w.is_empty() && w.len() <= 10 && w.iter().all(u8::is_ascii_digit);
        if is_number(number) && is_number(generation) && keyword.starts_with(b"obj") {
            let number = std::str::from_utf8(number).ok()?.parse::<u32>().ok();
            if let Some(number) = number.filter(|&n| n <= MAX_RECONSTRUCTED_OBJECT_NUMBER) {
                highest = highest.max(Some(number));
            }
        }
    }
    highest
}

/// The pages of a truncated document that survived whole, by page number; with the number of
/// pages its page tree lists (whole or not) and the sentence that tells the user.
fn whole_pages(
    doc: &mut Document,
    added: Option<&[ObjectId; 2]>,
) -> Result<(BTreeMap<u32, ObjectId>, u32, String), ParseError> {
    let cut_short = || {
        corrupt("the file is cut short: it has no %%EOF marker, and no page of it survived whole")
    };
    let Some(root) = tree_root(doc, added) else {
        return Err(cut_short());
    };
    // The page tree is walked from the catalog, so the catalog leads to the root found.
    doc.catalog_mut()
        .map_err(|_| cut_short())?
        .set("Pages", Object::Reference(root));
    let listed = doc.get_pages();
    let claimed = doc
        .get_dictionary(root)
        .ok()
        .and_then(|root| root.get(b"Count").ok()?.as_i64().ok())
        .and_then(|count| u32::try_from(count).ok());
    let mut budget = MAX_OBJECTS_CHECKED;
    let pages: BTreeMap<u32, ObjectId> = listed
        .iter()
        .filter(|&(_, &id)| is_whole(doc, id, &mut budget))
        .map(|(&number, &id)| (number, id))
        .collect();
    if pages.is_empty() {
        return Err(cut_short());
    }
    let page_count = u32::try_from(listed.len()).unwrap_or(u32::MAX);
    let whole = u32::try_from(pages.len()).unwrap_or(u32::MAX);
    let at_least = page_count.max(claimed.unwrap_or(0));
    let truncation = if whole < at_least {
        format!(
            "the PDF is truncated (a broken download?): kept the {} of at least {at_least}; \
             upload the complete file to index the rest",
            count(whole, "whole page")
        )
    } else {
        format!(
            "the PDF is truncated (a broken download?), but all {} survived whole and were kept; \
             upload the complete file if anything is missing",
            count(whole, "page")
        )
    };
    Ok((pages, page_count, truncation))
}

/// "1 page", "12 pages".
fn count(n: u32, noun: &str) -> String {
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The root of the page tree: the catalog's, if both survived, else the surviving `Pages` node
/// without a parent that lists the most pages (not one of the objects `added`).
fn tree_root(doc: &Document, added: Option<&[ObjectId; 2]>) -> Option<ObjectId> {
    let is_added = |id: &ObjectId| added.is_some_and(|added| added.contains(id));
    let is_node = |id: &ObjectId| doc.get_dictionary(*id).is_ok_and(|d| d.has_type(b"Pages"));
    let catalogs = doc.objects.iter().filter(|(id, object)| {
        !is_added(id) && object.as_dict().is_ok_and(|d| d.has_type(b"Catalog"))
    });
    let from_catalog = doc
        .catalog()
        .ok()
        .into_iter()
        .chain(catalogs.filter_map(|(_, object)| object.as_dict().ok()))
        .filter_map(|catalog| catalog.get(b"Pages").and_then(Object::as_reference).ok())
        .find(|id| !is_added(id) && is_node(id));
    from_catalog.or_else(|| {
        doc.objects
            .iter()
            .filter(|(id, _)| !is_added(id) && is_node(id))
            .filter_map(|(&id, object)| Some((id, object.as_dict().ok()?)))
            .filter(|(_, node)| !node.has(b"Parent"))
            .max_by_key(|(_, node)| node.get(b"Count").and_then(Object::as_i64).unwrap_or(0))
            .map(|(id, _)| id)
    })
}

/// Whether everything a page's text needs survived: the page, its content streams, and every
/// object its resources lead to (its own and those it inherits, up its ancestors). Charges each
/// object looked at to `budget`; an exhausted budget answers no.
fn is_whole(doc: &Document, page_id: ObjectId, budget: &mut usize) -> bool {
    let Ok(page) = doc.get_dictionary(page_id) else {
        return false;
    };
    let mut seen = BTreeSet::new();
    if let Ok(contents) = page.get(b"Contents")
        && !survives(doc, contents, &mut seen, budget)
    {
        return false;
    }
    let mut node: &Dictionary = page;
    let mut ancestors = BTreeSet::new();
    loop {
        if let Ok(resources) = node.get(b"Resources")
            && !survives(doc, resources, &mut seen, budget)
        {
            return false;
        }
        let Ok(parent) = node.get(b"Parent").and_then(Object::as_reference) else {
            return true;
        };
        if !ancestors.insert(parent) {
            return true;
        }
        // An ancestor lost with the end of the file may have held resources the page uses.
        let Ok(parent) = doc.get_dictionary(parent) else {
            return false;
        };
        node = parent;
    }
}

/// Whether `object` and every object it refers to, directly or not, are in `doc` (references up
/// the page tree, `/Parent`, are not followed). `seen` are the objects already found.
fn survives<'a>(
    doc: &'a Document,
    object: &'a Object,
    seen: &mut BTreeSet<ObjectId>,
    budget: &mut usize,
) -> bool {
    let mut pending = vec![object];
    while let Some(object) = pending.pop() {
        match object {
            Object::Reference(id) => {
                if seen.contains(id) {
                    continue;
                }
                if *budget == 0 {
                    return false;
                }
                *budget -= 1;
                let Some(target) = doc.objects.get(id) else {
                    return false;
                };
                seen.insert(*id);
                pending.push(target);
            }
            Object::Array(items) => pending.extend(items),
            Object::Dictionary(dict) => pending.extend(values(dict)),
            Object::Stream(stream) => pending.extend(values(&stream.dict)),
            _ => {}
        }
    }
    true
}

/// A dictionary's values, except its `/Parent`.
fn values(dict: &Dictionary) -> impl Iterator<Item = &Object> {
    dict.iter()
        .filter(|(key, _)| key.as_slice() != b"Parent")
        .map(|(_, value)| value)
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
    use super::super::samples::{document, save, text_page};
    use super::super::{blocks, parse_ok};
    use crate::ingest::parse::{ParseError, ParseLimits, find};
    use lopdf::{Document, Object, ObjectId, StringFormat, dictionary};

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

    /// Six pages, each saying which it is on two lines.
    fn numbered_pages() -> Document {
        let pages: Vec<Vec<u8>> = (1..=6)
            .map(|n| {
                text_page(&[
                    &format!("Page {n} begins here,"),
                    &format!("and page {n} ends here."),
                ])
            })
            .collect();
        document(&pages)
    }

    /// Where object `id` starts in `bytes`, and where it ends (just past its `endobj`).
    fn span(bytes: &[u8], id: ObjectId) -> (usize, usize) {
        let header = format!("\n{} {} obj", id.0, id.1);
        let start = find(bytes, header.as_bytes()).expect("object not in file") + 1;
        let end = start + find(&bytes[start..], b"endobj").unwrap() + b"endobj".len();
        (start, end)
    }

    /// For each page of `doc` saved as `bytes`, the length from which the file holds it whole:
    /// the end of its dictionary or of its content stream, whichever comes later. Checks that
    /// the fonts, resources and page tree all come before the first page's objects, so that
    /// the page's own two objects are all it waits for.
    fn whole_from(doc: &Document, bytes: &[u8]) -> Vec<usize> {
        let mut page_objects = Vec::new();
        let ends = doc
            .get_pages()
            .values()
            .map(|&page| {
                let contents = doc.get_dictionary(page).unwrap().get(b"Contents").unwrap();
                let contents = contents.as_reference().unwrap();
                page_objects.extend([page, contents]);
                span(bytes, page).1.max(span(bytes, contents).1)
            })
            .collect();
        let first_page = page_objects
            .iter()
            .map(|&id| span(bytes, id).0)
            .min()
            .unwrap();
        let catalog = doc.trailer.get(b"Root").unwrap().as_reference().unwrap();
        for &id in doc.objects.keys() {
            if !page_objects.contains(&id) && id != catalog {
                assert!(span(bytes, id).1 < first_page, "{id:?} comes after a page");
            }
        }
        ends
    }

    fn truncated_warning(whole: usize, of: usize) -> String {
        let pages = if whole == 1 { "page" } else { "pages" };
        format!(
            "the PDF is truncated (a broken download?): kept the {whole} whole {pages} of at \
             least {of}; upload the complete file to index the rest"
        )
    }

    #[test]
    fn a_pdf_cut_short_keeps_its_whole_pages_and_says_it_was_truncated() {
        for compressed in [false, true] {
            let mut doc = numbered_pages();
            if compressed {
                doc.compress();
            }
            let bytes = save(&mut doc);
            let full = parse_ok(&bytes);
            assert_eq!(full.blocks.len(), 6, "{:?}", blocks(&full));
            let whole_from = whole_from(&doc, &bytes);
            for whole in 1..6 {
                let (this_page, next_page) = (whole_from[whole - 1], whole_from[whole]);
                // Right after the last whole page, inside the next one, one byte short of it.
                for cut in [
                    this_page,
                    this_page + 1,
                    (this_page + next_page) / 2,
                    next_page - 1,
                ] {
                    let parsed = parse_ok(&bytes[..cut]);
                    let context = format!("compressed: {compressed}, cut at {cut}");
                    let expected: Vec<_> = blocks(&full)
                        .into_iter()
                        .filter(|&(page, _)| page <= u32::try_from(whole).ok())
                        .collect();
                    assert_eq!(blocks(&parsed), expected, "{context}");
                    assert_eq!(parsed.warnings, [truncated_warning(whole, 6)], "{context}");
                    assert_eq!(parsed.pages, Some(6), "{context}");
                }
            }
        }
    }

    #[test]
    fn a_pdf_cut_before_any_page_is_whole_is_corrupt() {
        let mut doc = numbered_pages();
        let bytes = save(&mut doc);
        let first_page = whole_from(&doc, &bytes)[0];
        for cut in [bytes.len() / 10, first_page / 2, first_page - 1] {
            let err =
                crate::ingest::parse::parse(&bytes[..cut], Some("doc.pdf"), &limits()).unwrap_err();
            assert!(matches!(err, ParseError::CorruptPdf { .. }), "{cut}: {err}");
            assert!(
                err.to_string().ends_with(": re-export it and upload again"),
                "{cut}: {err}"
            );
        }
        // Once the page tree is whole the reason names the cut.
        let err =
            crate::ingest::parse::parse(&bytes[..first_page - 1], None, &limits()).unwrap_err();
        assert!(err.to_string().contains("the file is cut short"), "{err}");
    }

    #[test]
    fn a_pdf_whose_catalog_survives_the_cut_keeps_its_whole_pages() {
        // ReportLab writes the catalog and the page tree before the content streams, so lopdf
        // finds its way in; page 2's content stream is the file's last object.
        let bytes = include_bytes!("../../../../tests/fixtures/parse/reportlab-cjk-subset.pdf");
        let full = parse_ok(bytes);
        let page_one: Vec<_> = blocks(&full)
            .into_iter()
            .filter(|&(page, _)| page == Some(1))
            .collect();
        assert!(page_one.len() < full.blocks.len());
        let (start, end) = span(bytes, (13, 0));
        let data = start + find(&bytes[start..], b"stream").unwrap();
        let data_end = start + find(&bytes[start..], b"endstream").unwrap();
        // The stream complete but not its `endobj` would be whole: lopdf reads it.
        for cut in [start, start + 40, (data + data_end) / 2] {
            let parsed = parse_ok(&bytes[..cut]);
            assert_eq!(blocks(&parsed), page_one, "cut at {cut}");
            assert_eq!(parsed.warnings, [truncated_warning(1, 2)], "cut at {cut}");
        }
        // Cut after the last object, in the cross-reference table: nothing is missing.
        let parsed = parse_ok(&bytes[..end + 30]);
        assert_eq!(blocks(&parsed), blocks(&full));
        assert_eq!(
            parsed.warnings,
            [
                "the PDF is truncated (a broken download?), but all 2 pages survived whole and \
              were kept; upload the complete file if anything is missing"
            ]
        );
    }

    #[test]
    fn a_truncated_encrypted_pdf_is_never_read_as_ciphertext() {
        let bytes = encrypted("");
        let step = bytes.len() / 40;
        for cut in (step..bytes.len()).step_by(step) {
            if let Ok(parsed) = crate::ingest::parse::parse(&bytes[..cut], None, &limits()) {
                assert_eq!(blocks(&parsed), [(Some(1), "Secret text")], "cut at {cut}");
            }
        }
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
