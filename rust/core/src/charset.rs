//! Specific Character Set (0008,0005) handling, including ISO 2022 code extensions.
//!
//! dicom-rs decodes text with the *first* value of (0008,0005) only and knows no escape
//! sequences (see docs in `parse.rs`). We take its string back to the exact bytes by
//! re-encoding with the codec it used (lossless for the sets involved: ISO-IR 6/100 map
//! every byte, the others are re-encodable) and decode those bytes ourselves, honouring
//! escape sequences, whenever dicom-rs could not have got it right.

use dicom_encoding::text::{SpecificCharacterSet, TextCodec};
use encoding_rs::Encoding;

/// A coded character set that can be designated to G0 or G1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CodeSet {
    /// ISO 646 / ASCII (also JIS X 0201 Romaji: we keep '\\' and '~' as ASCII, like pydicom).
    Ascii,
    /// JIS X 0201 Katakana in G1 (bytes 0xA1..=0xDF).
    Katakana,
    /// JIS X 0208 in G0, two 7-bit bytes.
    Jis0208,
    /// JIS X 0212 in G0, two 7-bit bytes.
    Jis0212,
    /// KS X 1001 in G1, two 8-bit bytes (EUC-KR).
    Ksx1001,
    /// GB 2312 in G1, two 8-bit bytes (EUC-CN).
    Gb2312,
    /// ISO 8859-1 upper half.
    Latin1,
    /// Upper half of another single-byte set, decoded through encoding_rs.
    SingleByte(&'static Encoding),
}

impl CodeSet {
    fn two_byte(self) -> bool {
        matches!(
            self,
            CodeSet::Jis0208 | CodeSet::Jis0212 | CodeSet::Ksx1001 | CodeSet::Gb2312
        )
    }
}

/// How a Specific Character Set term is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Term {
    /// A whole-value encoding with no code extensions (UTF-8, GB18030, GBK).
    Whole(&'static Encoding),
    /// An ISO 2022 term: initial G0 and G1.
    Iso2022 { g0: CodeSet, g1: Option<CodeSet> },
}

fn term_of(name: &str) -> Option<Term> {
    use CodeSet::*;
    let sb = |e: &'static Encoding| {
        Some(Term::Iso2022 {
            g0: Ascii,
            g1: Some(SingleByte(e)),
        })
    };
    // "ISO_IR n" and "ISO 2022 IR n" name the same repertoire; only the latter allows
    // escapes, but being lenient costs nothing.
    let n = name.trim().replace("ISO 2022 IR ", "ISO_IR ");
    match n.as_str() {
        "" | "ISO_IR 6" => Some(Term::Iso2022 {
            g0: Ascii,
            g1: None,
        }),
        "ISO_IR 100" => Some(Term::Iso2022 {
            g0: Ascii,
            g1: Some(Latin1),
        }),
        "ISO_IR 101" => sb(encoding_rs::ISO_8859_2),
        "ISO_IR 109" => sb(encoding_rs::ISO_8859_3),
        "ISO_IR 110" => sb(encoding_rs::ISO_8859_4),
        "ISO_IR 144" => sb(encoding_rs::ISO_8859_5),
        "ISO_IR 127" => sb(encoding_rs::ISO_8859_6),
        "ISO_IR 126" => sb(encoding_rs::ISO_8859_7),
        "ISO_IR 138" => sb(encoding_rs::ISO_8859_8),
        // encoding_rs maps ISO-8859-9 to windows-1254, identical on 0xA0..=0xFF.
        "ISO_IR 148" => sb(encoding_rs::WINDOWS_1254),
        "ISO_IR 203" => sb(encoding_rs::ISO_8859_15),
        // TIS 620 is windows-874 without the C1 additions.
        "ISO_IR 166" => sb(encoding_rs::WINDOWS_874),
        "ISO_IR 13" => Some(Term::Iso2022 {
            g0: Ascii,
            g1: Some(Katakana),
        }),
        "ISO_IR 87" => Some(Term::Iso2022 {
            g0: Jis0208,
            g1: None,
        }),
        "ISO_IR 159" => Some(Term::Iso2022 {
            g0: Jis0212,
            g1: None,
        }),
        "ISO_IR 149" => Some(Term::Iso2022 {
            g0: Ascii,
            g1: Some(Ksx1001),
        }),
        "ISO_IR 58" => Some(Term::Iso2022 {
            g0: Ascii,
            g1: Some(Gb2312),
        }),
        "ISO_IR 192" => Some(Term::Whole(encoding_rs::UTF_8)),
        "GB18030" => Some(Term::Whole(encoding_rs::GB18030)),
        "GBK" => Some(Term::Whole(encoding_rs::GBK)),
        _ => None,
    }
}

/// The effective character set of a data set or item.
#[derive(Debug, Clone)]
pub(crate) struct Charset {
    first: Term,
    /// The codec dicom-rs decoded the values with (to recover the bytes).
    dicomrs: SpecificCharacterSet,
    /// dicom-rs got it wrong unless the value has no escapes and the first term is one
    /// it knows.
    first_unknown_to_dicomrs: bool,
    /// Multi-valued or "ISO 2022" first term: escapes may occur.
    extensions: bool,
}

impl Default for Charset {
    fn default() -> Self {
        Charset {
            first: Term::Iso2022 {
                g0: CodeSet::Ascii,
                g1: None,
            },
            dicomrs: SpecificCharacterSet::default(),
            first_unknown_to_dicomrs: false,
            extensions: false,
        }
    }
}

impl Charset {
    /// Builds the charset from the values of (0008,0005); returns warnings for terms we
    /// cannot decode.
    pub(crate) fn from_terms(terms: &[String]) -> (Charset, Vec<String>) {
        let mut warnings = Vec::new();
        let first_name = terms.first().map(|s| s.trim()).unwrap_or("");
        let first = match term_of(first_name) {
            Some(t) => t,
            None => {
                warnings.push(format!(
                    "SpecificCharacterSet (0008,0005): unsupported character set '{first_name}', text decoded as ISO-IR 6/Latin-1"
                ));
                Term::Iso2022 {
                    g0: CodeSet::Ascii,
                    g1: Some(CodeSet::Latin1),
                }
            }
        };
        for t in terms.iter().skip(1) {
            if term_of(t).is_none() {
                warnings.push(format!(
                    "SpecificCharacterSet (0008,0005): unsupported code extension '{}'",
                    t.trim()
                ));
            }
        }
        // Mirror dicom-rs: it switches to the first value when it knows it, else keeps default.
        let known = SpecificCharacterSet::from_code(first_name);
        let charset = Charset {
            first,
            first_unknown_to_dicomrs: known.is_none() && !first_name.is_empty(),
            dicomrs: known.unwrap_or_default(),
            extensions: terms.len() > 1 || first_name.starts_with("ISO 2022"),
        };
        (charset, warnings)
    }

    /// Decodes raw bytes as dicom-rs decodes the values of this data set (see [`Charset::fix`]).
    pub(crate) fn decode_like_dicomrs(&self, raw: &[u8]) -> Option<String> {
        self.dicomrs.decode(raw).ok()
    }

    /// Corrects text that dicom-rs decoded with this charset's first value.
    /// `values` are dicom-rs' values (split on backslash); the result is split again on
    /// real value delimiters only when `multi` (a backslash inside a two-byte character
    /// is not a delimiter).
    pub(crate) fn fix(&self, values: &[String], multi: bool, pn: bool) -> Vec<String> {
        let needs_own = self.first_unknown_to_dicomrs
            || (self.extensions && values.iter().any(|v| v.contains('\u{1b}')));
        if !needs_own {
            return values.to_vec();
        }
        let joined = values.join("\\");
        let Ok(raw) = self.dicomrs.encode(&joined) else {
            return values.to_vec();
        };
        let text = self.decode_bytes(&raw, pn);
        if multi {
            text.split('\\').map(str::to_string).collect()
        } else {
            vec![text]
        }
    }

    /// Decodes raw bytes of a text value, honouring ISO 2022 escape sequences.
    pub(crate) fn decode_bytes(&self, raw: &[u8], pn: bool) -> String {
        let (g0_init, g1_init) = match self.first {
            Term::Whole(enc) => return enc.decode_without_bom_handling(raw).0.into_owned(),
            Term::Iso2022 { g0, g1 } => (g0, g1),
        };
        let (mut g0, mut g1) = (g0_init, g1_init);
        let mut out = String::with_capacity(raw.len());
        let mut i = 0;
        while i < raw.len() {
            let b = raw[i];
            if b == 0x1b {
                if let Some((consumed, set, to_g1)) = escape(&raw[i + 1..]) {
                    if to_g1 {
                        g1 = Some(set);
                    } else {
                        g0 = set;
                    }
                    i += 1 + consumed;
                    continue;
                }
                // Unknown escape: keep going, dropping the ESC byte only.
                i += 1;
                continue;
            }
            if b < 0x80 {
                if g0.two_byte() && (0x21..0x7f).contains(&b) {
                    // A run of 7-bit two-byte characters, decoded as EUC.
                    let start = i;
                    while i + 1 < raw.len()
                        && (0x21..0x7f).contains(&raw[i])
                        && (0x21..0x7f).contains(&raw[i + 1])
                    {
                        i += 2;
                    }
                    if i == start {
                        out.push('\u{fffd}');
                        i += 1;
                        continue;
                    }
                    out.push_str(&decode_euc(g0, &raw[start..i]));
                    continue;
                }
                let c = b as char;
                out.push(c);
                // Delimiters return to the initial state (PS3.5 6.1.2.5.3).
                if matches!(b, b'\r' | b'\n' | b'\t' | 0x0c | b'\\')
                    || (pn && matches!(b, b'^' | b'='))
                {
                    g0 = g0_init;
                    g1 = g1_init;
                }
                i += 1;
                continue;
            }
            match g1 {
                Some(CodeSet::Katakana) if (0xa1..=0xdf).contains(&b) => {
                    out.push(char::from_u32(0xff61 + (b - 0xa1) as u32).unwrap_or('\u{fffd}'));
                    i += 1;
                }
                Some(set @ (CodeSet::Ksx1001 | CodeSet::Gb2312)) => {
                    let start = i;
                    while i + 1 < raw.len()
                        && raw[i] >= 0xa1
                        && raw[i] < 0xff
                        && raw[i + 1] >= 0xa1
                        && raw[i + 1] < 0xff
                    {
                        i += 2;
                    }
                    if i == start {
                        out.push('\u{fffd}');
                        i += 1;
                    } else {
                        out.push_str(&decode_euc(set, &raw[start..i]));
                    }
                }
                Some(CodeSet::SingleByte(enc)) => {
                    let start = i;
                    while i < raw.len() && raw[i] >= 0x80 {
                        i += 1;
                    }
                    out.push_str(&enc.decode_without_bom_handling(&raw[start..i]).0);
                }
                // Latin-1, or no G1 designated: Latin-1 is the most useful guess.
                _ => {
                    out.push(b as char);
                    i += 1;
                }
            }
        }
        out
    }
}

/// Recognises the escape sequence after ESC: (bytes consumed, set, designates G1).
fn escape(rest: &[u8]) -> Option<(usize, CodeSet, bool)> {
    use CodeSet::*;
    let single = |e: &'static Encoding| SingleByte(e);
    let seq: &[(&[u8], CodeSet, bool)] = &[
        (b"(B", Ascii, false),
        (b"(J", Ascii, false),
        (b")I", Katakana, true),
        (b"$B", Jis0208, false),
        (b"$@", Jis0208, false),
        (b"$(D", Jis0212, false),
        (b"$)C", Ksx1001, true),
        (b"$)A", Gb2312, true),
        (b"-A", Latin1, true),
        (b"-B", single(encoding_rs::ISO_8859_2), true),
        (b"-C", single(encoding_rs::ISO_8859_3), true),
        (b"-D", single(encoding_rs::ISO_8859_4), true),
        (b"-L", single(encoding_rs::ISO_8859_5), true),
        (b"-G", single(encoding_rs::ISO_8859_6), true),
        (b"-F", single(encoding_rs::ISO_8859_7), true),
        (b"-H", single(encoding_rs::ISO_8859_8), true),
        (b"-M", single(encoding_rs::WINDOWS_1254), true),
        (b"-T", single(encoding_rs::WINDOWS_874), true),
        (b"-b", single(encoding_rs::ISO_8859_15), true),
    ];
    seq.iter()
        .find(|(s, _, _)| rest.starts_with(s))
        .map(|(s, set, g1)| (s.len(), *set, *g1))
}

/// Decodes a run of two-byte characters by mapping them onto the matching EUC form.
fn decode_euc(set: CodeSet, run: &[u8]) -> String {
    let mut buf = Vec::with_capacity(run.len() + run.len() / 2);
    let enc = match set {
        CodeSet::Jis0208 => {
            buf.extend(run.iter().map(|b| b | 0x80));
            encoding_rs::EUC_JP
        }
        CodeSet::Jis0212 => {
            for pair in run.chunks(2) {
                buf.push(0x8f);
                buf.extend(pair.iter().map(|b| b | 0x80));
            }
            encoding_rs::EUC_JP
        }
        CodeSet::Ksx1001 => {
            buf.extend_from_slice(run);
            encoding_rs::EUC_KR
        }
        _ => {
            buf.extend_from_slice(run);
            encoding_rs::GBK
        }
    };
    enc.decode_without_bom_handling(&buf).0.into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cs(terms: &[&str]) -> Charset {
        Charset::from_terms(&terms.iter().map(|s| s.to_string()).collect::<Vec<_>>()).0
    }

    #[test]
    fn japanese_escapes() {
        let raw =
            b"Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B=\x1b$B$d$^$@\x1b(B^\x1b$B$?$m$&\x1b(B";
        assert_eq!(
            cs(&["", "ISO 2022 IR 87"]).decode_bytes(raw, true),
            "Yamada^Tarou=山田^太郎=やまだ^たろう"
        );
    }

    #[test]
    fn katakana_and_kanji() {
        let raw = b"\xd4\xcf\xc0\xde^\xc0\xdb\xb3=\x1b$B;3ED\x1b(J^\x1b$BB@O:\x1b(J";
        assert_eq!(
            cs(&["ISO 2022 IR 13", "ISO 2022 IR 87"]).decode_bytes(raw, true),
            "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎"
        );
    }

    #[test]
    fn korean() {
        let raw = b"Hong^Gildong=\x1b$)C\xfb\xf3^\x1b$)C\xd1\xce\xd4\xd7=\x1b$)C\xc8\xab^\x1b$)C\xb1\xe6\xb5\xbf";
        assert_eq!(
            cs(&["", "ISO 2022 IR 149"]).decode_bytes(raw, true),
            "Hong^Gildong=洪^吉洞=홍^길동"
        );
    }

    #[test]
    fn backslash_inside_kanji_is_not_a_delimiter() {
        // 0x3B5C is a JIS X 0208 code whose second byte is '\\'.
        let c = cs(&["", "ISO 2022 IR 87"]);
        let text = c.decode_bytes(b"\x1b$B;\\\x1b(B\\b", false);
        assert_eq!(text.matches('\\').count(), 1, "{text}");
    }

    #[test]
    fn garbage_never_panics() {
        let c = cs(&["ISO 2022 IR 13", "ISO 2022 IR 87", "ISO 2022 IR 149"]);
        for raw in [
            &b"\x1b"[..],
            b"\x1b$",
            b"\x1b$B\x21",
            b"\xff\xfe\x1b$)C\xa1",
            b"\x1b$(D\x7e",
        ] {
            let _ = c.decode_bytes(raw, true);
        }
    }
}
