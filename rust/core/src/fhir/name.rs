//! DICOM PN → FHIR HumanName.

use serde_json::{json, Map, Value};

use super::EXT_EN_REPRESENTATION;
use crate::parse::PersonName;

/// The five '^'-separated components of one PN component group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PnComponents {
    pub family: Option<String>,
    pub given: Option<String>,
    pub middle: Option<String>,
    pub prefix: Option<String>,
    pub suffix: Option<String>,
}

impl PnComponents {
    pub fn parse(group: &str) -> Self {
        let mut parts: Vec<Option<String>> = group
            .split('^')
            .map(|p| Some(p.trim().to_string()).filter(|p| !p.is_empty()))
            .collect();
        // More than five components is malformed; keep the extra text in the suffix, not lost.
        if parts.len() > 5 {
            let extra: Vec<String> = parts.drain(4..).flatten().collect();
            parts.push(Some(extra.join(" ")).filter(|s| !s.is_empty()));
        }
        parts.resize(5, None);
        let mut it = parts.into_iter();
        PnComponents {
            family: it.next().flatten(),
            given: it.next().flatten(),
            middle: it.next().flatten(),
            prefix: it.next().flatten(),
            suffix: it.next().flatten(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.family.is_none()
            && self.given.is_none()
            && self.middle.is_none()
            && self.prefix.is_none()
            && self.suffix.is_none()
    }

    /// Western reading order, for the alphabetic group: "Rev. John Robert Adams B.A.".
    pub fn render_western(&self) -> Option<String> {
        join([
            &self.prefix,
            &self.given,
            &self.middle,
            &self.family,
            &self.suffix,
        ])
    }

    /// Family name first, as CJK names are written: "山田 太郎".
    pub fn render_family_first(&self) -> Option<String> {
        join([
            &self.prefix,
            &self.family,
            &self.given,
            &self.middle,
            &self.suffix,
        ])
    }
}

fn join(parts: [&Option<String>; 5]) -> Option<String> {
    let s = parts
        .iter()
        .filter_map(|p| p.as_deref())
        .collect::<Vec<_>>()
        .join(" ");
    Some(s).filter(|s| !s.is_empty())
}

/// One HumanName; `representation` is the ISO 21090 code ABC/IDE/SYL (or none).
pub fn human_name(
    c: &PnComponents,
    text: Option<String>,
    representation: Option<&str>,
) -> Option<Value> {
    if c.is_empty() {
        return None;
    }
    let mut n = Map::new();
    if let Some(r) = representation {
        n.insert(
            "extension".into(),
            json!([{ "url": EXT_EN_REPRESENTATION, "valueCode": r }]),
        );
    }
    if let Some(t) = text {
        n.insert("text".into(), t.into());
    }
    if let Some(f) = &c.family {
        n.insert("family".into(), f.clone().into());
    }
    let given: Vec<Value> = [&c.given, &c.middle]
        .into_iter()
        .flatten()
        .map(|g| g.clone().into())
        .collect();
    if !given.is_empty() {
        n.insert("given".into(), given.into());
    }
    if let Some(p) = &c.prefix {
        n.insert("prefix".into(), json!([p]));
    }
    if let Some(s) = &c.suffix {
        n.insert("suffix".into(), json!([s]));
    }
    Some(Value::Object(n))
}

/// All HumanNames of a PN: alphabetic, then ideographic and phonetic groups. The
/// representation extension is set only when there is more than one group to tell apart.
pub fn human_names(pn: &PersonName) -> Vec<Value> {
    let groups: Vec<(PnComponents, &str, bool)> = [
        (pn.alphabetic.as_deref(), "ABC", true),
        (pn.ideographic.as_deref(), "IDE", false),
        (pn.phonetic.as_deref(), "SYL", false),
    ]
    .into_iter()
    .filter_map(|(g, code, western)| g.map(|g| (PnComponents::parse(g), code, western)))
    .filter(|(c, _, _)| !c.is_empty())
    .collect();
    let tag = groups.len() > 1;
    groups
        .iter()
        .filter_map(|(c, code, western)| {
            let text = if *western {
                c.render_western()
            } else {
                c.render_family_first()
            };
            human_name(c, text, tag.then_some(*code))
        })
        .collect()
}

/// A readable string for a PN (Reference.display): the alphabetic group, else the others.
pub fn display(pn: &PersonName) -> Option<String> {
    let a = pn
        .alphabetic
        .as_deref()
        .map(PnComponents::parse)
        .and_then(|c| c.render_western());
    a.or_else(|| {
        pn.ideographic
            .as_deref()
            .map(PnComponents::parse)
            .and_then(|c| c.render_family_first())
    })
    .or_else(|| {
        pn.phonetic
            .as_deref()
            .map(PnComponents::parse)
            .and_then(|c| c.render_family_first())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pn(a: Option<&str>, i: Option<&str>, p: Option<&str>) -> PersonName {
        PersonName {
            alphabetic: a.map(Into::into),
            ideographic: i.map(Into::into),
            phonetic: p.map(Into::into),
        }
    }

    #[test]
    fn full_alphabetic_name() {
        let n = human_names(&pn(
            Some("Adams^John Robert Quincy^^Rev.^B.A. M.Div."),
            None,
            None,
        ));
        assert_eq!(
            n,
            vec![
                json!({"text": "Rev. John Robert Quincy Adams B.A. M.Div.", "family": "Adams",
                        "given": ["John Robert Quincy"], "prefix": ["Rev."], "suffix": ["B.A. M.Div."]})
            ]
        );
    }

    #[test]
    fn middle_name_is_a_given_name() {
        let n = human_names(&pn(Some("Doe^John^Q"), None, None));
        assert_eq!(
            n,
            vec![json!({"text": "John Q Doe", "family": "Doe", "given": ["John", "Q"]})]
        );
    }

    #[test]
    fn family_only_and_blank_components() {
        assert_eq!(
            human_names(&pn(Some("김희중"), None, None)),
            vec![json!({"text": "김희중", "family": "김희중"})]
        );
        assert_eq!(
            human_names(&pn(Some(" ^Jane ^ ^ ^"), None, None)),
            vec![json!({"text": "Jane", "given": ["Jane"]})]
        );
        assert!(human_names(&pn(Some("^^^^"), None, None)).is_empty());
        assert!(human_names(&pn(None, None, None)).is_empty());
    }

    #[test]
    fn three_groups_are_tagged() {
        let n = human_names(&pn(
            Some("Yamada^Tarou"),
            Some("山田^太郎"),
            Some("やまだ^たろう"),
        ));
        assert_eq!(n.len(), 3);
        assert_eq!(n[0]["extension"][0]["valueCode"], "ABC");
        assert_eq!(
            n[1],
            json!({"extension": [{"url": EXT_EN_REPRESENTATION, "valueCode": "IDE"}],
                                "text": "山田 太郎", "family": "山田", "given": ["太郎"]})
        );
        assert_eq!(n[2]["extension"][0]["valueCode"], "SYL");
        assert_eq!(n[2]["family"], "やまだ");
    }

    #[test]
    fn too_many_components_keep_the_text() {
        let c = PnComponents::parse("A^B^C^D^E^F");
        assert_eq!(c.suffix.as_deref(), Some("E F"));
    }

    #[test]
    fn display_prefers_alphabetic() {
        assert_eq!(
            display(&pn(Some("Smith^Anne^^Dr."), Some("x"), None)).as_deref(),
            Some("Dr. Anne Smith")
        );
        assert_eq!(
            display(&pn(None, Some("王^小東"), None)).as_deref(),
            Some("王 小東")
        );
        assert_eq!(display(&pn(Some("^^"), None, None)), None);
    }
}
