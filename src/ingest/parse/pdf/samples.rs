//! PDFs generated with lopdf for the parser's tests and benchmarks: a document with a Latin, a
//! CJK and a subset font, pages of text, and fonts with hostile `ToUnicode` `CMaps`. It uses
//! nothing of the crate, so that `benches/parse.rs` can include it too.

use lopdf::content::{Content, Operation};
use lopdf::{Dictionary, Document, Object, Stream, dictionary};

/// A document with fonts /F1 (Helvetica), /F2 (Chinese, UniGB-UCS2-H) and /F3 (Identity-H
/// with a `ToUnicode` `CMap` mapping `CIDs` 1 and 2 to 中 and 文), and one page per content
/// stream.
pub fn document(pages: &[Vec<u8>]) -> Document {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let helvetica = doc.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type1",
        "BaseFont" => "Helvetica",
    });
    let song = doc.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type0",
        "BaseFont" => "STSong-Light",
        "Encoding" => "UniGB-UCS2-H",
        "DescendantFonts" => vec![Object::Dictionary(dictionary! {
            "Type" => "Font",
            "Subtype" => "CIDFontType0",
            "BaseFont" => "STSong-Light",
            "CIDSystemInfo" => dictionary! {
                "Registry" => Object::string_literal("Adobe"),
                "Ordering" => Object::string_literal("GB1"),
                "Supplement" => 2,
            },
            "DW" => 1000,
        })],
    });
    let cmap = doc.add_object(Stream::new(
        dictionary! {},
        b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n\
/CMapName /Adobe-Identity-UCS def /CMapType 2 def\n\
1 begincodespacerange <0000> <FFFF> endcodespacerange\n\
2 beginbfchar <0001> <4E2D> <0002> <6587> endbfchar\n\
endcmap CMapName currentdict /CMap defineresource pop end end\n"
            .to_vec(),
    ));
    let subset = doc.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type0",
        "BaseFont" => "ABCDEF+SimSun",
        "Encoding" => "Identity-H",
        "ToUnicode" => cmap,
        "DescendantFonts" => vec![Object::Dictionary(dictionary! {
            "Type" => "Font",
            "Subtype" => "CIDFontType2",
            "BaseFont" => "ABCDEF+SimSun",
            "DW" => 1000,
            "W" => vec![1.into(), vec![1000.into(), 1000.into()].into()],
        })],
    });
    let resources = doc.add_object(dictionary! {
        "Font" => dictionary! { "F1" => helvetica, "F2" => song, "F3" => subset },
    });
    let mut kids = Vec::new();
    for content in pages {
        let content_id = doc.add_object(Stream::new(dictionary! {}, content.clone()));
        kids.push(Object::Reference(doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "Contents" => content_id,
        })));
    }
    let count = i64::try_from(kids.len()).unwrap();
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => kids,
            "Count" => count,
            "Resources" => resources,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog);
    doc
}

pub fn save(doc: &mut Document) -> Vec<u8> {
    let mut bytes = Vec::new();
    doc.save_to(&mut bytes).unwrap();
    bytes
}

/// A page of Helvetica lines, one `BT … ET` each; an empty line leaves a blank line.
pub fn text_page(lines: &[&str]) -> Vec<u8> {
    let mut operations = Vec::new();
    let mut y = 760.0_f32;
    for line in lines {
        if !line.is_empty() {
            operations.extend([
                Operation::new("BT", vec![]),
                Operation::new("Tf", vec!["F1".into(), 12.into()]),
                Operation::new("Td", vec![72.into(), y.into()]),
                Operation::new("Tj", vec![Object::string_literal(*line)]),
                Operation::new("ET", vec![]),
            ]);
        }
        y -= 14.4;
    }
    Content { operations }.encode().unwrap()
}

pub fn pdf(pages: &[Vec<u8>]) -> Vec<u8> {
    save(&mut document(pages))
}

pub fn ucs2_hex(text: &str) -> String {
    let hex: String = text
        .encode_utf16()
        .flat_map(u16::to_be_bytes)
        .map(|b| format!("{b:02X}"))
        .collect();
    format!("<{hex}>")
}

/// A page showing `<0001>` in an Identity-H font whose `ToUnicode` `CMap` has `ranges`.
pub fn cmap_font_pdf(ranges: &str, fonts: usize) -> Vec<u8> {
    let mut content = text_page(&["Latin text"]);
    for i in 0..fonts {
        content.extend_from_slice(
            format!("BT /C{i} 12 Tf 72 {} Td <0001> Tj ET\n", 600 - i).as_bytes(),
        );
    }
    let mut doc = document(&[content]);
    let cmap = doc.add_object(Stream::new(
        dictionary! {},
        format!(
            "/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n\
/CMapName /Test-UCS def /CMapType 2 def\n\
1 begincodespacerange <0000> <FFFF> endcodespacerange\n\
1 beginbfrange\n{ranges}\nendbfrange\nendcmap CMapName currentdict /CMap defineresource pop end end\n"
        )
        .into_bytes(),
    ));
    let mut font_dict = Dictionary::new();
    for i in 0..fonts {
        let font = doc.add_object(dictionary! {
            "Type" => "Font",
            "Subtype" => "Type0",
            "BaseFont" => "X",
            "Encoding" => "Identity-H",
            "ToUnicode" => cmap,
        });
        font_dict.set(format!("C{i}"), font);
    }
    font_dict.set(
        "F1",
        dictionary! { "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica" },
    );
    let page_id = *doc.get_pages().get(&1).unwrap();
    doc.get_dictionary_mut(page_id)
        .unwrap()
        .set("Resources", dictionary! { "Font" => font_dict });
    save(&mut doc)
}
