//! Value types of the catalog and of perishable stock: ids, money, quantities, units, tags and
//! nutrition facts. Like [`crate::values`], each is parsed once at the edge with `TryFrom` (or a
//! checked constructor) and is valid from then on; their serde form (used for snapshots) does
//! not re-validate, so stored state always loads.
//!
//! Money is an integer count of minor units and stock is an exact decimal
//! ([`rust_decimal::Decimal`]): no `f64` ever holds either.

use crate::values::ValueError;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

use crate::adapter::id_type;

id_type!(
    /// A catalog product's id.
    ProductId
);
id_type!(
    /// An inventory batch's id.
    BatchId
);
id_type!(
    /// A warehouse's id.
    WarehouseId
);
id_type!(
    /// An order's id.
    OrderId
);
id_type!(
    /// A product image's id.
    ImageId
);

// --- money --------------------------------------------------------------------------------

/// An ISO 4217 currency code: three letters, stored upper-case (`EUR`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Currency(String);

impl Currency {
    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Wraps a value read back from a stored event, which was valid when recorded.
    pub(crate) fn trusted(s: String) -> Self {
        Self(s)
    }
}

impl TryFrom<&str> for Currency {
    type Error = ValueError;
    fn try_from(raw: &str) -> Result<Self, ValueError> {
        let s = raw.trim();
        if s.len() == 3 && s.bytes().all(|b| b.is_ascii_alphabetic()) {
            Ok(Self(s.to_ascii_uppercase()))
        } else {
            Err(ValueError::Format {
                expected: "an ISO 4217 currency code such as EUR",
            })
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An amount of money: a non-negative count of the currency's minor unit (cents for EUR).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    amount_minor: i64,
    currency: Currency,
}

impl Money {
    /// `amount_minor` of `currency`'s minor unit.
    ///
    /// # Errors
    /// [`ValueError::Format`] for a negative amount.
    pub fn new(amount_minor: i64, currency: Currency) -> Result<Self, ValueError> {
        if amount_minor < 0 {
            return Err(ValueError::Format {
                expected: "an amount of at least 0 minor units",
            });
        }
        Ok(Self {
            amount_minor,
            currency,
        })
    }

    /// Zero in `currency`.
    pub fn zero(currency: Currency) -> Self {
        Self {
            amount_minor: 0,
            currency,
        }
    }

    /// The amount in minor units.
    pub fn amount_minor(&self) -> i64 {
        self.amount_minor
    }

    /// The currency.
    pub fn currency(&self) -> &Currency {
        &self.currency
    }

    /// The price of `quantity` units at this unit price, rounded half away from zero to the
    /// minor unit (1.5 kg at 199 cents is 299 cents). `None` when it does not fit in an `i64`.
    pub fn times(&self, quantity: Quantity) -> Option<Money> {
        let exact = Decimal::from(self.amount_minor).checked_mul(quantity.0)?;
        let rounded = exact.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero);
        Some(Self {
            amount_minor: rounded.to_i64()?,
            currency: self.currency.clone(),
        })
    }

    /// Wraps a value read back from a stored event, which was valid when recorded.
    pub(crate) fn trusted(amount_minor: i64, currency: String) -> Self {
        Self {
            amount_minor,
            currency: Currency::trusted(currency),
        }
    }
}

impl TryFrom<(i64, &str)> for Money {
    type Error = ValueError;
    fn try_from((amount_minor, currency): (i64, &str)) -> Result<Self, ValueError> {
        Self::new(amount_minor, Currency::try_from(currency)?)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} (minor units)", self.amount_minor, self.currency)
    }
}

// --- quantities ---------------------------------------------------------------------------

/// An exact, non-negative quantity with at most [`Quantity::MAX_DECIMALS`] decimals, in a
/// product's [`Unit`]. Parsing refuses more decimals rather than rounding; sums and differences
/// of quantities stay exact. Its text form (serde, wire) is the plain decimal string without
/// trailing zeros (`"12.5"`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Quantity(Decimal);

impl Quantity {
    /// Nothing.
    pub const ZERO: Self = Self(Decimal::ZERO);
    /// Decimals a quantity may have.
    pub const MAX_DECIMALS: u32 = 3;
    /// The largest quantity parsed at the edge (one billion units).
    pub const MAX: Self = Self(Decimal::from_parts(1_000_000_000, 0, 0, false, 0));

    /// The exact value.
    pub fn as_decimal(&self) -> Decimal {
        self.0
    }

    /// Whether this is zero.
    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }

    /// `self + other`, `None` on overflow.
    pub fn checked_add(self, other: Self) -> Option<Self> {
        self.0.checked_add(other.0).map(Self::normalised)
    }

    /// `self - other`, `None` when it would be negative.
    pub fn checked_sub(self, other: Self) -> Option<Self> {
        match self.0.checked_sub(other.0) {
            Some(d) if !d.is_sign_negative() || d.is_zero() => Some(Self::normalised(d)),
            _ => None,
        }
    }

    /// `self + other`, at most [`Decimal::MAX`] (far above anything parsed).
    pub fn saturating_add(self, other: Self) -> Self {
        Self::normalised(self.0.saturating_add(other.0))
    }

    /// `self - other`, at least zero.
    pub fn saturating_sub(self, other: Self) -> Self {
        self.checked_sub(other).unwrap_or(Self::ZERO)
    }

    fn normalised(d: Decimal) -> Self {
        // -0 and trailing zeros never show: 12.500 is 12.5, and 0 is 0.
        let d = d.normalize();
        Self(if d.is_zero() { Decimal::ZERO } else { d })
    }

    /// Parses a stored quantity (a decimal string). Stored values were valid when recorded, so
    /// only their shape is checked: a number, not negative.
    ///
    /// # Errors
    /// When `s` is not a non-negative decimal number.
    pub(crate) fn from_stored(s: &str) -> Result<Self, ValueError> {
        match Decimal::from_str_exact(s) {
            Ok(d) if !d.is_sign_negative() || d.is_zero() => Ok(Self::normalised(d)),
            _ => Err(ValueError::Format {
                expected: "a stored quantity: a non-negative decimal string",
            }),
        }
    }
}

const QUANTITY_SHAPE: ValueError = ValueError::Format {
    expected: "a number of at least 0 with at most 3 decimals, such as 12.5",
};

impl TryFrom<Decimal> for Quantity {
    type Error = ValueError;
    fn try_from(d: Decimal) -> Result<Self, ValueError> {
        if d.is_sign_negative() && !d.is_zero() {
            return Err(ValueError::Format {
                expected: "a quantity of at least 0",
            });
        }
        if d.normalize().scale() > Self::MAX_DECIMALS {
            return Err(ValueError::Format {
                expected: "a quantity with at most 3 decimals",
            });
        }
        if d > Self::MAX.0 {
            return Err(ValueError::Format {
                expected: "a quantity of at most 1000000000",
            });
        }
        Ok(Self::normalised(d))
    }
}

impl TryFrom<&str> for Quantity {
    type Error = ValueError;
    /// Digits, optionally a point and more digits (`12`, `12.5`, `0.125`); no sign, exponent
    /// or separators.
    fn try_from(raw: &str) -> Result<Self, ValueError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(ValueError::Empty);
        }
        let (int, frac) = match s.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (s, None),
        };
        let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if !digits(int) || !frac.is_none_or(digits) {
            return Err(QUANTITY_SHAPE);
        }
        // Trailing zeros are not decimals that matter: 1.2500 is 1.25.
        let d = Decimal::from_str_exact(s).map_err(|_| QUANTITY_SHAPE)?;
        Self::try_from(d)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Quantity({})", self.0)
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::from_stored(&s).map_err(serde::de::Error::custom)
    }
}

/// A [`Quantity`] greater than zero: what is received, reserved, or spoiled.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct PositiveQuantity(Quantity);

impl PositiveQuantity {
    /// The quantity.
    pub fn get(self) -> Quantity {
        self.0
    }

    /// Parses a stored quantity; see [`Quantity::from_stored`]. Zero is refused: a stored
    /// positive quantity was positive when recorded.
    pub(crate) fn from_stored(s: &str) -> Result<Self, ValueError> {
        Self::try_from(Quantity::from_stored(s)?)
    }
}

impl TryFrom<Quantity> for PositiveQuantity {
    type Error = ValueError;
    fn try_from(q: Quantity) -> Result<Self, ValueError> {
        if q.is_zero() {
            Err(ValueError::Format {
                expected: "a quantity greater than 0",
            })
        } else {
            Ok(Self(q))
        }
    }
}

impl TryFrom<Decimal> for PositiveQuantity {
    type Error = ValueError;
    fn try_from(d: Decimal) -> Result<Self, ValueError> {
        Self::try_from(Quantity::try_from(d)?)
    }
}

impl TryFrom<&str> for PositiveQuantity {
    type Error = ValueError;
    fn try_from(raw: &str) -> Result<Self, ValueError> {
        Self::try_from(Quantity::try_from(raw)?)
    }
}

impl From<PositiveQuantity> for Quantity {
    fn from(q: PositiveQuantity) -> Self {
        q.0
    }
}

impl fmt::Display for PositiveQuantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for PositiveQuantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PositiveQuantity({})", self.0 .0)
    }
}

impl<'de> Deserialize<'de> for PositiveQuantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::from_stored(&s).map_err(serde::de::Error::custom)
    }
}

// --- units and tags -----------------------------------------------------------------------

macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $wire)] $variant),+
        }

        impl $name {
            /// Every value, in a stable order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The wire name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $wire),+
                }
            }

            /// Parses a wire name.
            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = $crate::values::ValueError;
            fn try_from(raw: &str) -> Result<Self, $crate::values::ValueError> {
                Self::parse(raw.trim()).ok_or($crate::values::ValueError::Format {
                    expected: concat!("one of:", $(" ", $wire),+),
                })
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use wire_enum;

wire_enum!(
    /// The unit a product is sold and stocked in.
    Unit {
        /// Kilograms: fractions allowed (up to grams).
        Kg => "kg",
        /// Single pieces: whole numbers only.
        Piece => "piece",
        /// Bunches: whole numbers only.
        Bunch => "bunch",
        /// Boxes: whole numbers only.
        Box => "box",
    }
);

impl Unit {
    /// Whether quantities in this unit may have decimals (only `kg`).
    pub fn allows_fractions(self) -> bool {
        matches!(self, Self::Kg)
    }

    /// Checks that `quantity` makes sense in this unit (no half pieces).
    ///
    /// # Errors
    /// [`ValueError::Format`] for a fraction of a countable unit.
    pub fn check(self, quantity: Quantity) -> Result<(), ValueError> {
        if self.allows_fractions() || quantity.as_decimal().fract().is_zero() {
            Ok(())
        } else {
            Err(ValueError::Format {
                expected: "a whole number for piece, bunch and box",
            })
        }
    }
}

wire_enum!(
    /// A catalog tag a customer can filter on.
    ProductTag {
        /// Certified organic.
        Organic => "organic",
        /// Imported from abroad.
        Imported => "imported",
        /// In season now.
        Seasonal => "seasonal",
        /// Grown locally.
        Local => "local",
    }
);

// --- nutrition ----------------------------------------------------------------------------

/// A raw value refused for a named field (`nutrition.fat_g`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {error}")]
pub struct FieldValueError {
    /// The field, as the client named it.
    pub field: &'static str,
    /// What is wrong with it.
    pub error: ValueError,
}

/// Nutrition facts per 100 g. Each figure is an exact decimal of at most 3 decimals; energy is
/// at most 900 kcal (pure fat), each gram figure at most 100 g, and protein, carbohydrates and
/// fat together at most 100 g.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nutrition {
    energy_kcal: Quantity,
    protein_g: Quantity,
    carbs_g: Quantity,
    fat_g: Quantity,
    fiber_g: Quantity,
}

impl Nutrition {
    /// Checks the figures against each other and builds the facts.
    ///
    /// # Errors
    /// A [`FieldValueError`] naming the first figure out of range.
    pub fn new(
        energy_kcal: Quantity,
        protein_g: Quantity,
        carbs_g: Quantity,
        fat_g: Quantity,
        fiber_g: Quantity,
    ) -> Result<Self, FieldValueError> {
        let at_most = |field, q: Quantity, max: i64, expected| {
            if q.as_decimal() > Decimal::from(max) {
                Err(FieldValueError {
                    field,
                    error: ValueError::Format { expected },
                })
            } else {
                Ok(())
            }
        };
        at_most(
            "nutrition.energy_kcal",
            energy_kcal,
            900,
            "at most 900 kcal per 100 g",
        )?;
        for (field, q) in [
            ("nutrition.protein_g", protein_g),
            ("nutrition.carbs_g", carbs_g),
            ("nutrition.fat_g", fat_g),
            ("nutrition.fiber_g", fiber_g),
        ] {
            at_most(field, q, 100, "at most 100 g per 100 g")?;
        }
        let macros = protein_g.saturating_add(carbs_g).saturating_add(fat_g);
        at_most(
            "nutrition",
            macros,
            100,
            "protein, carbs and fat together at most 100 g per 100 g",
        )?;
        Ok(Self {
            energy_kcal,
            protein_g,
            carbs_g,
            fat_g,
            fiber_g,
        })
    }

    /// Energy in kcal per 100 g.
    pub fn energy_kcal(&self) -> Quantity {
        self.energy_kcal
    }

    /// Protein in grams per 100 g.
    pub fn protein_g(&self) -> Quantity {
        self.protein_g
    }

    /// Carbohydrates in grams per 100 g.
    pub fn carbs_g(&self) -> Quantity {
        self.carbs_g
    }

    /// Fat in grams per 100 g.
    pub fn fat_g(&self) -> Quantity {
        self.fat_g
    }

    /// Dietary fibre in grams per 100 g.
    pub fn fiber_g(&self) -> Quantity {
        self.fiber_g
    }

    /// Wraps figures read back from a stored event, which were valid when recorded.
    pub(crate) fn trusted(
        energy_kcal: Quantity,
        protein_g: Quantity,
        carbs_g: Quantity,
        fat_g: Quantity,
        fiber_g: Quantity,
    ) -> Self {
        Self {
            energy_kcal,
            protein_g,
            carbs_g,
            fat_g,
            fiber_g,
        }
    }
}

// --- stored form ---------------------------------------------------------------------------

/// A stored event holding a value this version cannot read (an unknown unit, tag or reason, a
/// quantity that is not a decimal string). Events are written by this code, so this means a
/// newer writer or a damaged row.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stored event has an unreadable {what}: {value}")]
pub struct StoredValueError {
    what: &'static str,
    value: String,
}

impl StoredValueError {
    pub(crate) fn new(what: &'static str, value: impl Into<String>) -> Self {
        Self {
            what,
            value: value.into(),
        }
    }
}

/// Parses a stored wire name with `parse`, naming `what` on failure.
pub(crate) fn stored<T>(
    what: &'static str,
    value: String,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<T, StoredValueError> {
    parse(&value).ok_or_else(|| StoredValueError::new(what, value))
}

/// Parses a stored quantity.
pub(crate) fn stored_quantity(value: String) -> Result<Quantity, StoredValueError> {
    Quantity::from_stored(&value).map_err(|_| StoredValueError::new("quantity", value))
}

/// Parses a stored positive quantity.
pub(crate) fn stored_positive(value: String) -> Result<PositiveQuantity, StoredValueError> {
    PositiveQuantity::from_stored(&value).map_err(|_| StoredValueError::new("quantity", value))
}

impl From<Money> for schemas::common::MoneyV1 {
    fn from(m: Money) -> Self {
        Self {
            amount_minor: m.amount_minor,
            currency: m.currency.0,
        }
    }
}

impl From<schemas::common::MoneyV1> for Money {
    fn from(m: schemas::common::MoneyV1) -> Self {
        Self::trusted(m.amount_minor, m.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity::try_from(s).expect("valid quantity")
    }

    #[test]
    fn quantities_keep_up_to_three_decimals_exactly_and_refuse_more_rather_than_round() {
        assert_eq!(q("12.5").to_string(), "12.5");
        assert_eq!(q("12.500").to_string(), "12.5");
        assert_eq!(q(" 0.125 ").to_string(), "0.125");
        assert_eq!(
            q("1.25000"),
            q("1.25"),
            "trailing zeros are not extra decimals"
        );
        assert_eq!(q("0").to_string(), "0");
        assert_eq!(q("1000000000"), Quantity::MAX);
        for bad in [
            "1.2345",
            "-1",
            "+1",
            "1e3",
            "1,5",
            ".5",
            "5.",
            "NaN",
            "",
            "1000000000.001",
        ] {
            assert!(Quantity::try_from(bad).is_err(), "{bad:?} accepted");
        }
        let precise = Decimal::new(12_345, 4);
        assert!(Quantity::try_from(precise).is_err());
    }

    #[test]
    fn quantity_arithmetic_is_exact_and_never_goes_negative() {
        let sum = (0..10).fold(Quantity::ZERO, |acc, _| {
            acc.checked_add(q("0.1")).expect("fits")
        });
        assert_eq!(sum, q("1"));
        assert_eq!(q("2.5").checked_sub(q("2.5")), Some(Quantity::ZERO));
        assert_eq!(q("2.5").checked_sub(q("2.501")), None);
        assert_eq!(q("2").saturating_sub(q("3")), Quantity::ZERO);
    }

    #[test]
    fn positive_quantities_refuse_zero() {
        assert!(PositiveQuantity::try_from("0").is_err());
        assert!(PositiveQuantity::try_from("0.000").is_err());
        assert_eq!(
            PositiveQuantity::try_from("0.001")
                .expect("valid")
                .get()
                .to_string(),
            "0.001"
        );
    }

    #[test]
    fn quantities_are_stored_as_decimal_strings() {
        let json = serde_json::to_string(&q("3.250")).expect("serialise");
        assert_eq!(json, "\"3.25\"");
        assert_eq!(
            serde_json::from_str::<Quantity>(&json).expect("parse"),
            q("3.25")
        );
        assert!(serde_json::from_str::<Quantity>("3.25").is_err(), "a float");
        assert!(serde_json::from_str::<PositiveQuantity>("\"0\"").is_err());
    }

    #[test]
    fn money_is_non_negative_minor_units_with_an_iso_currency() {
        let m = Money::try_from((1299, "eur")).expect("valid");
        assert_eq!(m.amount_minor(), 1299);
        assert_eq!(m.currency().as_str(), "EUR");
        assert!(Money::try_from((-1, "EUR")).is_err());
        for bad in ["EU", "EURO", "E1R", ""] {
            assert!(Currency::try_from(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn money_times_a_quantity_rounds_half_away_from_zero_to_the_minor_unit() {
        let price = Money::try_from((199, "EUR")).expect("valid");
        assert_eq!(price.times(q("1.5")).map(|m| m.amount_minor()), Some(299));
        assert_eq!(price.times(q("0.001")).map(|m| m.amount_minor()), Some(0));
        assert_eq!(price.times(q("3")).map(|m| m.amount_minor()), Some(597));
        let huge = Money::try_from((i64::MAX, "EUR")).expect("valid");
        assert_eq!(huge.times(q("2")), None);
    }

    #[test]
    fn countable_units_take_whole_numbers_only() {
        assert!(Unit::Kg.check(q("1.25")).is_ok());
        assert!(Unit::Piece.check(q("3")).is_ok());
        assert!(Unit::Piece.check(q("2.5")).is_err());
        assert_eq!(Unit::try_from("bunch"), Ok(Unit::Bunch));
        assert!(Unit::try_from("litre").is_err());
        assert_eq!(ProductTag::parse("organic"), Some(ProductTag::Organic));
        assert_eq!(
            serde_json::to_string(&ProductTag::Seasonal).expect("json"),
            "\"seasonal\""
        );
    }

    #[test]
    fn nutrition_figures_are_checked_against_what_100_g_can_hold() {
        let ok = Nutrition::new(q("52"), q("0.3"), q("13.8"), q("0.2"), q("2.4"));
        assert!(ok.is_ok());
        let too_much_energy = Nutrition::new(q("901"), q("0"), q("0"), q("0"), q("0"));
        assert_eq!(
            too_much_energy.map_err(|e| e.field),
            Err("nutrition.energy_kcal")
        );
        let over_100 = Nutrition::new(q("400"), q("40"), q("40"), q("30"), q("0"));
        assert_eq!(over_100.map_err(|e| e.field), Err("nutrition"));
        let fibre = Nutrition::new(q("10"), q("0"), q("0"), q("0"), q("100.001"));
        assert_eq!(fibre.map_err(|e| e.field), Err("nutrition.fiber_g"));
    }
}
