//! Value types shared by aggregates. Each is parsed once at the edge with `TryFrom` and is
//! valid from then on. Their serde form is transparent and does not re-validate: stored events
//! must always load, even after a rule is tightened.

use serde::{Deserialize, Serialize};
use std::fmt;
use thiserror::Error;

/// Why a raw value was refused. The edge pairs it with the field name.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValueError {
    /// Empty or only white space.
    #[error("must not be empty")]
    Empty,
    /// Longer than allowed (in characters).
    #[error("must be at most {max} characters")]
    TooLong {
        /// The limit.
        max: usize,
    },
    /// Shorter than allowed (in characters).
    #[error("must be at least {min} characters")]
    TooShort {
        /// The limit.
        min: usize,
    },
    /// Not of the expected shape.
    #[error("{expected}")]
    Format {
        /// What a valid value looks like.
        expected: &'static str,
    },
}

fn bounded(raw: &str, min: usize, max: usize) -> Result<String, ValueError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(ValueError::Empty);
    }
    if s.chars().any(char::is_control) {
        return Err(ValueError::Format {
            expected: "must not contain control characters",
        });
    }
    let n = s.chars().count();
    if n > max {
        return Err(ValueError::TooLong { max });
    }
    if n < min {
        return Err(ValueError::TooShort { min });
    }
    Ok(s.to_owned())
}

macro_rules! text_value {
    ($(#[$doc:meta])* $name:ident, $min:expr, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The value as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Wraps a value read back from a stored event, which was valid when recorded.
            pub(crate) fn trusted(s: String) -> Self {
                Self(s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = ValueError;
            fn try_from(raw: &str) -> Result<Self, ValueError> {
                bounded(raw, $min, $max).map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_value!(
    /// A company's legal name, 2 to 200 characters.
    LegalName, 2, 200
);
text_value!(
    /// First line of a postal address, 1 to 200 characters.
    AddressLine, 1, 200
);
text_value!(
    /// A city name, 1 to 100 characters.
    City, 1, 100
);
text_value!(
    /// Why something was done (rejection, suspension): required, 3 to 1000 characters.
    Reason, 3, 1000
);
text_value!(
    /// A free note attached to a decision, 1 to 1000 characters.
    Note, 1, 1000
);
text_value!(
    /// The issuer's reference of a verification document, 1 to 100 characters.
    DocumentReference, 1, 100
);
text_value!(
    /// A product's display name, 2 to 150 characters.
    ProductName, 2, 150
);

/// A company registration number: 3 to 32 of `A-Z 0-9 - / .`, stored upper-case with inner
/// spaces removed, so `de 123-45` and `DE123-45` are the same number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RegistrationNumber(String);

impl RegistrationNumber {
    /// The key two numbers are the same under: letters and digits only, so `NL-123`,
    /// `NL123`, `nl.123` and `NL/123` are one number (and one blocked number).
    pub fn uniqueness_key(&self) -> String {
        self.0.chars().filter(char::is_ascii_alphanumeric).collect()
    }

    /// Wraps a value read back from a stored event, which was valid when recorded.
    pub(crate) fn trusted(s: String) -> Self {
        Self(s)
    }

    /// The normalised number.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for RegistrationNumber {
    type Error = ValueError;
    fn try_from(raw: &str) -> Result<Self, ValueError> {
        let s: String = raw
            .trim()
            .chars()
            .filter(|c| *c != ' ')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if s.is_empty() {
            return Err(ValueError::Empty);
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '/' | '.'))
        {
            return Err(ValueError::Format {
                expected: "letters, digits, '-', '/' and '.' only",
            });
        }
        match s.len() {
            n if n < 3 => Err(ValueError::TooShort { min: 3 }),
            n if n > 32 => Err(ValueError::TooLong { max: 32 }),
            _ => Ok(Self(s)),
        }
    }
}

impl fmt::Display for RegistrationNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An e-mail address (the practical subset: `local@domain.tld`, at most 254 characters),
/// domain stored lower-case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Wraps a value read back from a stored event, which was valid when recorded.
    pub(crate) fn trusted(s: String) -> Self {
        Self(s)
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for Email {
    type Error = ValueError;
    fn try_from(raw: &str) -> Result<Self, ValueError> {
        const EXPECTED: ValueError = ValueError::Format {
            expected: "an e-mail address such as name@example.com",
        };
        let s = raw.trim();
        if s.is_empty() {
            return Err(ValueError::Empty);
        }
        if s.len() > 254 {
            return Err(ValueError::TooLong { max: 254 });
        }
        let (local, domain) = s.split_once('@').ok_or(EXPECTED)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c))
            && !local.starts_with('.')
            && !local.ends_with('.');
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
            && labels.last().is_some_and(|tld| tld.len() >= 2);
        if local_ok && domain_ok {
            Ok(Self(format!("{local}@{}", domain.to_ascii_lowercase())))
        } else {
            Err(EXPECTED)
        }
    }
}

/// A phone number: optional leading `+`, then 7 to 15 digits; spaces, dashes, dots and
/// parentheses are accepted and dropped.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Phone(String);

impl Phone {
    /// Wraps a value read back from a stored event, which was valid when recorded.
    pub(crate) fn trusted(s: String) -> Self {
        Self(s)
    }

    /// The normalised number.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for Phone {
    type Error = ValueError;
    fn try_from(raw: &str) -> Result<Self, ValueError> {
        const EXPECTED: ValueError = ValueError::Format {
            expected: "a phone number: optional '+', then 7 to 15 digits",
        };
        let s = raw.trim();
        if s.is_empty() {
            return Err(ValueError::Empty);
        }
        let (plus, rest) = match s.strip_prefix('+') {
            Some(r) => ("+", r),
            None => ("", s),
        };
        if !rest
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')'))
        {
            return Err(EXPECTED);
        }
        let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
        if !(7..=15).contains(&digits.len()) {
            return Err(EXPECTED);
        }
        Ok(Self(format!("{plus}{digits}")))
    }
}

/// A postal code: 2 to 12 of letters, digits, spaces and dashes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PostalCode(String);

impl PostalCode {
    /// Wraps a value read back from a stored event, which was valid when recorded.
    pub(crate) fn trusted(s: String) -> Self {
        Self(s)
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for PostalCode {
    type Error = ValueError;
    fn try_from(raw: &str) -> Result<Self, ValueError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(ValueError::Empty);
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-')
        {
            return Err(ValueError::Format {
                expected: "letters, digits, spaces and '-' only",
            });
        }
        match s.len() {
            n if n < 2 => Err(ValueError::TooShort { min: 2 }),
            n if n > 12 => Err(ValueError::TooLong { max: 12 }),
            _ => Ok(Self(s.to_ascii_uppercase())),
        }
    }
}

/// Every officially assigned ISO 3166-1 alpha-2 code.
/// The ISO 3166-1 alpha-2 codes a [`CountryCode`] accepts, separated by spaces.
pub const ISO_3166_ALPHA2: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ \
BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ \
CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ \
EC EE EG EH ER ES ET FI FJ FK FM FO FR \
GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU \
ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ \
LA LB LC LI LK LR LS LT LU LV LY \
MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ \
NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA \
RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ \
TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU \
WF WS YE YT ZA ZM ZW";

/// An ISO 3166-1 alpha-2 country code, upper-case (`DE`, `NL`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CountryCode(String);

impl CountryCode {
    /// Wraps a value read back from a stored event, which was valid when recorded.
    pub(crate) fn trusted(s: String) -> Self {
        Self(s)
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for CountryCode {
    type Error = ValueError;
    fn try_from(raw: &str) -> Result<Self, ValueError> {
        let s = raw.trim().to_ascii_uppercase();
        if s.len() == 2 && ISO_3166_ALPHA2.split(' ').any(|c| c == s) {
            Ok(Self(s))
        } else {
            Err(ValueError::Format {
                expected: "an ISO 3166-1 alpha-2 country code such as DE or NL",
            })
        }
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A postal address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// Street and number.
    pub line1: AddressLine,
    /// City.
    pub city: City,
    /// Postal code.
    pub postal_code: PostalCode,
    /// Country.
    pub country: CountryCode,
}

/// What a supplier sells, and what a product is: the catalog's categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProductCategory {
    /// Fruit.
    Fruit,
    /// Vegetables.
    Vegetable,
    /// Fresh herbs.
    Herb,
    /// Dairy.
    Dairy,
    /// Bread and pastry.
    Bakery,
    /// Anything else.
    Other,
}

impl ProductCategory {
    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Every category, in a stable order.
    pub const ALL: [Self; 6] = [
        Self::Fruit,
        Self::Vegetable,
        Self::Herb,
        Self::Dairy,
        Self::Bakery,
        Self::Other,
    ];

    /// The wire name (`fruit`, `vegetable`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fruit => "fruit",
            Self::Vegetable => "vegetable",
            Self::Herb => "herb",
            Self::Dairy => "dairy",
            Self::Bakery => "bakery",
            Self::Other => "other",
        }
    }
}

impl From<schemas::api::CategoryBody> for ProductCategory {
    fn from(c: schemas::api::CategoryBody) -> Self {
        use schemas::api::CategoryBody as B;
        match c {
            B::Fruit => Self::Fruit,
            B::Vegetable => Self::Vegetable,
            B::Herb => Self::Herb,
            B::Dairy => Self::Dairy,
            B::Bakery => Self::Bakery,
            B::Other => Self::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_numbers_are_normalised_so_spacing_and_case_do_not_make_a_new_number() {
        let a = RegistrationNumber::try_from(" de 123-45 ").expect("valid");
        let b = RegistrationNumber::try_from("DE123-45").expect("valid");
        assert_eq!(a, b);
        let keys: Vec<String> = ["NL-123", "NL123", "nl.123", "NL/123"]
            .iter()
            .map(|n| {
                RegistrationNumber::try_from(*n)
                    .expect("valid")
                    .uniqueness_key()
            })
            .collect();
        assert!(keys.iter().all(|k| k == "NL123"), "{keys:?}");
    }

    #[test]
    fn country_codes_must_be_assigned_iso_codes() {
        assert!(CountryCode::try_from("de").is_ok());
        assert!(CountryCode::try_from("XX").is_err());
        assert!(CountryCode::try_from("DEU").is_err());
        assert_eq!(ISO_3166_ALPHA2.split(' ').count(), 249);
    }

    #[test]
    fn emails_need_a_local_part_and_a_dotted_domain() {
        assert_eq!(
            Email::try_from("Ana@Farm.Example").expect("valid").as_str(),
            "Ana@farm.example"
        );
        for bad in [
            "",
            "ana",
            "ana@",
            "@farm.example",
            "ana@farm",
            "a b@farm.example",
            "ana@-x.com",
        ] {
            assert!(Email::try_from(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn phones_keep_digits_and_a_leading_plus() {
        assert_eq!(
            Phone::try_from("+31 (20) 555-0101")
                .expect("valid")
                .as_str(),
            "+31205550101"
        );
        assert!(Phone::try_from("12345").is_err());
        assert!(Phone::try_from("+31 20 abc").is_err());
    }

    #[test]
    fn text_values_are_trimmed_and_bounded() {
        assert_eq!(
            LegalName::try_from("  Green Acres  ")
                .expect("valid")
                .as_str(),
            "Green Acres"
        );
        assert_eq!(Reason::try_from("   "), Err(ValueError::Empty));
        assert_eq!(
            LegalName::try_from("x".repeat(201).as_str()),
            Err(ValueError::TooLong { max: 200 })
        );
        assert!(LegalName::try_from("bad\u{0}name").is_err());
    }

    #[test]
    fn country_code_round_trips_through_json() {
        let c = CountryCode::try_from("NL").expect("valid");
        let json = serde_json::to_string(&c).expect("serialise");
        assert_eq!(json, "\"NL\"");
        assert_eq!(
            serde_json::from_str::<CountryCode>(&json).expect("parse"),
            c
        );
    }
}
