//! Files developers keep in R2: what an upload may be (its type sniffed from its first bytes,
//! never taken from a header), where it lives (an unguessable key under one prefix per
//! visibility), its name and size limits, the byte ranges a download serves, and its view.
//!
//! Public images sit under `public/<project>/<random>` and are served to anyone; private files
//! (the products' downloads) sit under `private/<project>/<random>` and leave only through a
//! download token. The public route builds its key from the literal `public/` prefix, so no
//! path can name a private object there.

use crate::console::FieldErrors;
use crate::ids::{BASE62_U128_LEN, base62_u128, is_base62};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The largest public image, in bytes (5 MiB).
pub const PUBLIC_MAX_BYTES: u64 = 5 * 1024 * 1024;
/// The largest private file unless `ASSET_PRIVATE_MAX_BYTES` says otherwise (5 MiB).
pub const DEFAULT_PRIVATE_MAX_BYTES: u64 = 5 * 1024 * 1024;
/// How many leading bytes decide a file's type.
pub const SNIFF_BYTES: usize = 12;

/// Who may read an asset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visibility {
    /// Anyone, at its public URL (product images).
    Public,
    /// Only an entitled end user, through a short-lived download token.
    Private,
}

impl Visibility {
    /// Parses the wire word, `public` or `private`.
    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "public" => Some(Self::Public),
            "private" => Some(Self::Private),
            _ => None,
        }
    }

    /// The wire word.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Private => "private",
        }
    }

    /// The `assets.visibility` spelling (the schema calls private files `protected`).
    #[must_use]
    pub const fn column(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Private => "protected",
        }
    }

    /// Reads the `assets.visibility` column; anything unknown is treated as private, the
    /// side that exposes nothing.
    #[must_use]
    pub fn from_column(raw: &str) -> Self {
        if raw == "public" {
            Self::Public
        } else {
            Self::Private
        }
    }
}

/// A file type recognised by its magic bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileType {
    /// `\x89PNG\r\n\x1a\n`
    Png,
    /// `FF D8 FF`
    Jpeg,
    /// `RIFF····WEBP`
    Webp,
    /// `GIF87a` / `GIF89a`
    Gif,
    /// `%PDF-`
    Pdf,
    /// `PK\x03\x04`
    Zip,
}

impl FileType {
    /// The type whose signature `head` starts with, if any.
    #[must_use]
    pub fn sniff(head: &[u8]) -> Option<Self> {
        let starts = |magic: &[u8]| head.starts_with(magic);
        if starts(b"\x89PNG\r\n\x1a\n") {
            Some(Self::Png)
        } else if starts(b"\xff\xd8\xff") {
            Some(Self::Jpeg)
        } else if head.len() >= 12 && starts(b"RIFF") && &head[8..12] == b"WEBP" {
            Some(Self::Webp)
        } else if starts(b"GIF87a") || starts(b"GIF89a") {
            Some(Self::Gif)
        } else if starts(b"%PDF-") {
            Some(Self::Pdf)
        } else if starts(b"PK\x03\x04") {
            Some(Self::Zip)
        } else {
            None
        }
    }

    /// The content type it is stored and served with.
    #[must_use]
    pub const fn content_type(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Webp => "image/webp",
            Self::Gif => "image/gif",
            Self::Pdf => "application/pdf",
            Self::Zip => "application/zip",
        }
    }

    const fn is_image(self) -> bool {
        matches!(self, Self::Png | Self::Jpeg | Self::Webp | Self::Gif)
    }
}

/// The content type an upload is stored under, decided from its first bytes alone: a public
/// asset must be a png, jpeg, webp or gif image (`None` refuses it); a private file keeps a
/// recognised type and is otherwise `application/octet-stream`.
#[must_use]
pub fn stored_type(visibility: Visibility, head: &[u8]) -> Option<&'static str> {
    match (visibility, FileType::sniff(head)) {
        (Visibility::Public, Some(kind)) if kind.is_image() => Some(kind.content_type()),
        (Visibility::Public, _) => None,
        (Visibility::Private, Some(kind)) => Some(kind.content_type()),
        (Visibility::Private, None) => Some("application/octet-stream"),
    }
}

/// A new object key: the visibility's prefix, the project, and 128 random bits.
#[must_use]
pub fn object_key(visibility: Visibility, project_id: &str, random: u128) -> String {
    format!(
        "{}/{project_id}/{}",
        visibility.as_str(),
        base62_u128(random)
    )
}

/// The key a public URL `/assets/public/{project}/{name}` names, if both segments have the
/// shape Tollgate mints (anything else cannot exist, so it is refused without a lookup).
#[must_use]
pub fn public_key(project_id: &str, name: &str) -> Option<String> {
    let project_ok = project_id
        .strip_prefix("prj_")
        .is_some_and(|rest| rest.len() == BASE62_U128_LEN && is_base62(rest));
    let name_ok = name.len() == BASE62_U128_LEN && is_base62(name);
    (project_ok && name_ok).then(|| format!("public/{project_id}/{name}"))
}

/// What an upload's query string says: `filename` and `visibility`, both required so a
/// private file can never become public by omission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upload {
    /// The name downloads are saved under.
    pub filename: String,
    /// Public image or private file.
    pub visibility: Visibility,
}

impl Upload {
    /// Parses the query's pairs.
    ///
    /// # Errors
    /// Every invalid or missing field with its reason.
    pub fn from_query<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, FieldErrors> {
        let (mut filename, mut visibility) = (None, None);
        for (key, value) in pairs {
            match key {
                "filename" => filename = Some(value),
                "visibility" => visibility = Some(value),
                _ => {}
            }
        }
        let mut errors = FieldErrors::new();
        let filename = match filename.map(parse_filename) {
            Some(Ok(name)) => name,
            Some(Err(reason)) => {
                errors.insert("filename".to_owned(), vec![reason.to_owned()]);
                String::new()
            }
            None => {
                errors.insert("filename".to_owned(), vec!["is required".to_owned()]);
                String::new()
            }
        };
        let visibility = visibility.and_then(Visibility::parse).unwrap_or_else(|| {
            errors.insert(
                "visibility".to_owned(),
                vec!["is required: public (images) or private (downloads)".to_owned()],
            );
            Visibility::Private
        });
        if errors.is_empty() {
            Ok(Self {
                filename,
                visibility,
            })
        } else {
            Err(errors)
        }
    }
}

/// A file name: 1–255 characters, no control characters, path separators or quotes.
///
/// # Errors
/// A reason fit for `fieldErrors.filename`.
pub fn parse_filename(raw: &str) -> Result<String, &'static str> {
    let name = raw.trim();
    let bad = |c: char| c.is_control() || matches!(c, '/' | '\\' | '"');
    if name.is_empty() || name.chars().count() > 255 || name.chars().any(bad) || name == ".." {
        return Err("must be 1–255 characters without control characters, slashes or quotes");
    }
    Ok(name.to_owned())
}

/// `Content-Disposition: attachment` for `filename`: an ASCII fallback and the exact name
/// percent-encoded in UTF-8 (RFC 6266), so no name can break out of the header.
#[must_use]
pub fn attachment(filename: &str) -> String {
    let fallback: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for byte in filename.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

/// The bytes a request's `Range` header asks for (RFC 9110 §14: one `bytes` range).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ByteRange {
    /// The whole object: no header, or one that is ignored (another unit, several ranges,
    /// or malformed).
    Full,
    /// `start..=end`, both inside the object.
    Part {
        /// First byte.
        start: u64,
        /// Last byte (inclusive).
        end: u64,
    },
    /// A well-formed range that starts past the end (416).
    Unsatisfiable,
}

impl ByteRange {
    /// Reads `header` against an object of `size` bytes.
    #[must_use]
    pub fn parse(header: Option<&str>, size: u64) -> Self {
        let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
            return Self::Full;
        };
        let Some((first, last)) = spec.trim().split_once('-') else {
            return Self::Full;
        };
        let number = |text: &str| {
            (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
                .then(|| text.parse::<u64>().ok())
                .flatten()
        };
        match (first, last) {
            ("", suffix) => match number(suffix) {
                Some(0) => Self::Unsatisfiable,
                Some(n) if size > 0 => Self::Part {
                    start: size - n.min(size),
                    end: size - 1,
                },
                Some(_) => Self::Unsatisfiable,
                None => Self::Full,
            },
            (start, end) => match (number(start), end) {
                (Some(start), _) if start >= size => {
                    if end.is_empty() || number(end).is_some_and(|e| e >= start) {
                        Self::Unsatisfiable
                    } else {
                        Self::Full
                    }
                }
                (Some(start), "") => Self::Part {
                    start,
                    end: size - 1,
                },
                (Some(start), end) => match number(end) {
                    Some(end) if end >= start => Self::Part {
                        start,
                        end: end.min(size - 1),
                    },
                    _ => Self::Full,
                },
                (None, _) => Self::Full,
            },
        }
    }
}

/// A running SHA-256 over an upload's bytes as they stream past.
#[derive(Clone, Debug, Default)]
pub struct FileHash(Sha256);

impl FileHash {
    /// Feeds the next chunk.
    pub fn update(&mut self, chunk: &[u8]) {
        self.0.update(chunk);
    }

    /// The lower-case hex digest.
    #[must_use]
    pub fn finish(self) -> String {
        self.0
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// An asset as its developer sees it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetView {
    /// `ast_…`
    pub id: String,
    /// Its project.
    pub project_id: String,
    /// The name it was uploaded under.
    pub filename: String,
    /// The sniffed type it is served with.
    pub content_type: String,
    /// Bytes.
    pub size: i64,
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
    /// `public` or `private`.
    pub visibility: &'static str,
    /// The public URL (public images only).
    pub url: Option<String>,
    /// Upload time (ms).
    pub created_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_uploads_are_only_the_four_image_types_by_their_bytes() {
        let cases: [(&[u8], Option<&str>); 9] = [
            (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", Some("image/png")),
            (b"\xff\xd8\xff\xe0\0\x10JFIF\0", Some("image/jpeg")),
            (b"RIFF\x24\0\0\0WEBPVP8 ", Some("image/webp")),
            (b"GIF89a\x01\0\x01\0\0\0", Some("image/gif")),
            (b"GIF87a\x01\0\x01\0\0\0", Some("image/gif")),
            (b"<!doctype html><script>", None),
            (b"<svg xmlns=\"http://www", None),
            (b"%PDF-1.7\n%\xe2\xe3", None),
            (b"RIFF\x24\0\0\0WAVEfmt ", None),
        ];
        for (head, expected) in cases {
            assert_eq!(
                stored_type(Visibility::Public, head),
                expected,
                "{:?}",
                String::from_utf8_lossy(head)
            );
        }
    }

    #[test]
    fn private_files_keep_a_recognised_type_and_are_otherwise_octet_streams() {
        assert_eq!(
            stored_type(Visibility::Private, b"%PDF-1.7\n"),
            Some("application/pdf")
        );
        assert_eq!(
            stored_type(Visibility::Private, b"PK\x03\x04\x14\0"),
            Some("application/zip")
        );
        assert_eq!(
            stored_type(Visibility::Private, b"<html>"),
            Some("application/octet-stream")
        );
        assert_eq!(
            stored_type(Visibility::Private, b""),
            Some("application/octet-stream")
        );
    }

    #[test]
    fn keys_carry_their_prefix_project_and_128_random_bits() {
        let key = object_key(Visibility::Private, "prj_x", u128::MAX);
        assert_eq!(key, format!("private/prj_x/{}", base62_u128(u128::MAX)));
        assert!(object_key(Visibility::Public, "prj_x", 1).starts_with("public/prj_x/"));
    }

    #[test]
    fn a_public_url_names_only_well_formed_public_keys() {
        let project = format!("prj_{}", base62_u128(7));
        let name = base62_u128(9);
        assert_eq!(
            public_key(&project, &name),
            Some(format!("public/{project}/{name}"))
        );
        for (p, n) in [
            ("prj_short", name.as_str()),
            (project.as_str(), "short"),
            (project.as_str(), "..%2F..%2Fprivate%2Fx0000"),
            ("private", name.as_str()),
        ] {
            assert_eq!(public_key(p, n), None, "{p} {n}");
        }
    }

    #[test]
    fn an_upload_names_its_file_and_visibility_explicitly() {
        assert_eq!(
            Upload::from_query([("filename", " cover.png "), ("visibility", "public")]),
            Ok(Upload {
                filename: "cover.png".into(),
                visibility: Visibility::Public
            })
        );
        let cases: [(&[(&str, &str)], &str); 6] = [
            (&[("visibility", "public")], "filename"),
            (&[("filename", "a.png")], "visibility"),
            (
                &[("filename", "a.png"), ("visibility", "secret")],
                "visibility",
            ),
            (
                &[("filename", "../etc"), ("visibility", "public")],
                "filename",
            ),
            (
                &[("filename", "a\"b"), ("visibility", "public")],
                "filename",
            ),
            (
                &[("filename", "a\nb"), ("visibility", "private")],
                "filename",
            ),
        ];
        for (pairs, field) in cases {
            let errors = Upload::from_query(pairs.iter().copied()).unwrap_err();
            assert!(errors.contains_key(field), "{pairs:?}: {errors:?}");
        }
    }

    #[test]
    fn attachment_names_cannot_break_out_of_the_header() {
        assert_eq!(
            attachment("guide.pdf"),
            "attachment; filename=\"guide.pdf\"; filename*=UTF-8''guide.pdf"
        );
        assert_eq!(
            attachment("résumé; x.pdf"),
            "attachment; filename=\"r_sum_; x.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%3B%20x.pdf"
        );
    }

    #[test]
    fn ranges_follow_rfc_9110_for_one_bytes_range() {
        let cases = [
            (None, ByteRange::Full),
            (Some("bytes=0-9"), ByteRange::Part { start: 0, end: 9 }),
            (Some("bytes=90-"), ByteRange::Part { start: 90, end: 99 }),
            (Some("bytes=90-500"), ByteRange::Part { start: 90, end: 99 }),
            (Some("bytes=-10"), ByteRange::Part { start: 90, end: 99 }),
            (Some("bytes=-500"), ByteRange::Part { start: 0, end: 99 }),
            (Some("bytes=100-"), ByteRange::Unsatisfiable),
            (Some("bytes=150-200"), ByteRange::Unsatisfiable),
            (Some("bytes=-0"), ByteRange::Unsatisfiable),
            (Some("bytes=9-3"), ByteRange::Full),
            (Some("bytes=0-1,5-9"), ByteRange::Full),
            (Some("items=0-9"), ByteRange::Full),
            (Some("bytes=x-9"), ByteRange::Full),
            (Some("bytes=+1-9"), ByteRange::Full),
        ];
        for (header, expected) in cases {
            assert_eq!(ByteRange::parse(header, 100), expected, "{header:?}");
        }
    }

    #[test]
    fn the_file_hash_is_the_sha256_of_all_chunks() {
        let mut hash = FileHash::default();
        hash.update(b"ab");
        hash.update(b"c");
        assert_eq!(
            hash.finish(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
