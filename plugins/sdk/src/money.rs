//! Money at the boundaries: Medusa v2 keeps decimal major units (`98.9`),
//! Stripe wants integer minor units (`9890`), and inside plugins money is
//! always integer minor units.
//!
//! Conversion is exact: amounts are read from their decimal text, never
//! through floating-point arithmetic, and with each currency's real number
//! of decimals (ISO 4217).

use core::fmt;

use serde_json::Value;

/// ISO 4217 currencies without a minor unit.
const ZERO_DECIMAL: &[&str] = &[
    "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND",
    "VUV", "XAF", "XOF", "XPF",
];

/// ISO 4217 currencies with three decimals.
const THREE_DECIMAL: &[&str] = &["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];

/// The most digits an amount may have; more is not money but an attack on
/// the parser.
const MAX_DIGITS: usize = 30;

/// Why an amount could not be converted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoneyError {
    /// Not a decimal number (`"12,50"`, `"abc"`, `null`, `NaN`).
    NotANumber(String),
    /// More decimals than the currency has (`1.234` in USD).
    TooPrecise {
        /// The amount as given.
        amount: String,
        /// The currency, upper-cased.
        currency: String,
    },
    /// Does not fit in 64-bit minor units.
    Overflow(String),
}

impl fmt::Display for MoneyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotANumber(a) => write!(f, "amount {a:?} is not a decimal number"),
            Self::TooPrecise { amount, currency } => {
                write!(
                    f,
                    "amount {amount} has more decimals than {currency} allows"
                )
            }
            Self::Overflow(a) => write!(f, "amount {a} is too large"),
        }
    }
}

impl std::error::Error for MoneyError {}

impl From<MoneyError> for crate::PluginError {
    fn from(error: MoneyError) -> Self {
        Self::invalid_input(error.to_string())
    }
}

/// How many decimals `currency` has (case-insensitive ISO code): 0 for JPY,
/// KRW and the other zero-decimal currencies, 3 for BHD, JOD, KWD and the
/// like, 2 for everything else.
pub fn exponent(currency: &str) -> u32 {
    let code = currency.trim().to_ascii_uppercase();
    if ZERO_DECIMAL.contains(&code.as_str()) {
        0
    } else if THREE_DECIMAL.contains(&code.as_str()) {
        3
    } else {
        2
    }
}

/// Converts a Medusa amount to minor units: a JSON number, a decimal string,
/// or a BigNumber object `{"value": "…"}` as Medusa's `raw_*` fields hold.
pub fn to_minor(amount: &Value, currency: &str) -> Result<i64, MoneyError> {
    match amount {
        // A number's text is its shortest exact representation: 98.9 reads
        // as "98.9", never as 98.900000000000005684….
        Value::Number(n) => decimal_to_minor(&n.to_string(), currency),
        Value::String(s) => decimal_to_minor(s, currency),
        Value::Object(o) => match o.get("value") {
            Some(inner @ (Value::String(_) | Value::Number(_))) => to_minor(inner, currency),
            _ => Err(MoneyError::NotANumber(amount.to_string())),
        },
        _ => Err(MoneyError::NotANumber(amount.to_string())),
    }
}

/// Converts decimal text (`"98.90"`, `"-5"`, `"1.5e3"`) in major units to
/// minor units. Trailing zeros beyond the currency's decimals are fine
/// (`"98.900"` USD is 9890); other extra digits are refused, not rounded.
pub fn decimal_to_minor(text: &str, currency: &str) -> Result<i64, MoneyError> {
    let decimal = Decimal::parse(text).ok_or_else(|| MoneyError::NotANumber(text.to_owned()))?;
    let currency = currency.trim().to_ascii_uppercase();
    decimal.scaled(exponent(&currency)).map_err(|e| match e {
        ScaleError::TooPrecise => MoneyError::TooPrecise {
            amount: text.to_owned(),
            currency,
        },
        ScaleError::Overflow => MoneyError::Overflow(text.to_owned()),
    })
}

/// Renders minor units as Medusa's decimal major units, with exactly the
/// currency's decimals: 9890 USD → `"98.90"`, 5000 JPY → `"5000"`.
pub fn to_major_string(minor: i64, currency: &str) -> String {
    let exp = exponent(currency) as usize;
    let sign = if minor < 0 { "-" } else { "" };
    let digits = format!("{:0>width$}", minor.unsigned_abs(), width = exp + 1);
    if exp == 0 {
        return format!("{sign}{digits}");
    }
    let (whole, fraction) = digits.split_at(digits.len() - exp);
    format!("{sign}{whole}.{fraction}")
}

/// A parsed decimal: `negative`, the digits without a point, and the
/// power of ten they are scaled by (`12.5` → `125`, -1).
struct Decimal {
    negative: bool,
    digits: String,
    scale: i64,
}

enum ScaleError {
    TooPrecise,
    Overflow,
}

impl Decimal {
    fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let (negative, unsigned) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let (mantissa, exp) = match unsigned.split_once(['e', 'E']) {
            Some((m, e)) => (m, e.parse::<i64>().ok().filter(|e| e.abs() <= 400)?),
            None => (unsigned, 0),
        };
        let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let digits = format!("{whole}{fraction}");
        let valid = !digits.is_empty() && digits.len() <= MAX_DIGITS;
        if !valid || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(Self {
            negative,
            digits,
            scale: exp - fraction.len() as i64,
        })
    }

    /// The value times 10^`exponent`, as an integer.
    fn scaled(&self, exponent: u32) -> Result<i64, ScaleError> {
        let shift = self.scale + i64::from(exponent);
        let digits = if shift >= 0 {
            format!("{}{}", self.digits, "0".repeat(shift as usize))
        } else {
            let cut = self
                .digits
                .len()
                .saturating_sub(shift.unsigned_abs() as usize);
            let (kept, dropped) = self.digits.split_at(cut);
            if dropped.bytes().any(|b| b != b'0') {
                return Err(ScaleError::TooPrecise);
            }
            kept.to_owned()
        };
        let magnitude: i128 = digits_value(&digits).ok_or(ScaleError::Overflow)?;
        let signed = if self.negative { -magnitude } else { magnitude };
        i64::try_from(signed).map_err(|_| ScaleError::Overflow)
    }
}

/// The integer value of ASCII digits ("" is 0), if it fits in an `i128`.
fn digits_value(digits: &str) -> Option<i128> {
    let trimmed = digits.trim_start_matches('0');
    if trimmed.len() > 38 {
        return None;
    }
    if trimmed.is_empty() {
        Some(0)
    } else {
        trimmed.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn converts_with_each_currencys_real_exponent() {
        assert_eq!(to_minor(&json!(5000), "jpy"), Ok(5000));
        assert_eq!(to_minor(&json!(98.90), "usd"), Ok(9890));
        assert_eq!(to_minor(&json!("98.90"), "USD"), Ok(9890));
        assert_eq!(to_minor(&json!("1.234"), "KWD"), Ok(1234));
        assert_eq!(to_minor(&json!(10000), "krw"), Ok(10000));
        assert_eq!(to_minor(&json!(12), "eur"), Ok(1200));
    }

    #[test]
    fn is_exact_where_floats_are_not() {
        // 0.1 + 0.2 style trouble: 19.99 * 100 is 1998.9999999999998 in f64.
        assert_eq!(to_minor(&json!(19.99), "usd"), Ok(1999));
        assert_eq!(to_minor(&json!(1.005), "bhd"), Ok(1005));
        assert_eq!(to_minor(&json!("0.07"), "usd"), Ok(7));
    }

    #[test]
    fn refuses_more_decimals_than_the_currency_has() {
        let too_precise =
            |a: Value, c: &str| matches!(to_minor(&a, c), Err(MoneyError::TooPrecise { .. }));
        assert!(too_precise(json!("1.234"), "usd"));
        assert!(too_precise(json!(5000.5), "jpy"));
        assert!(too_precise(json!("1.2345"), "kwd"));
        assert_eq!(to_minor(&json!("98.900"), "usd"), Ok(9890));
    }

    #[test]
    fn reads_signs_exponents_and_bignumber_objects() {
        assert_eq!(to_minor(&json!("-5.5"), "usd"), Ok(-550));
        assert_eq!(to_minor(&json!("1.5e3"), "usd"), Ok(150_000));
        assert_eq!(
            to_minor(&json!(1e21), "jpy"),
            Err(MoneyError::Overflow("1e+21".into()))
        );
        assert_eq!(
            to_minor(&json!({"value": "98.9", "precision": 20}), "usd"),
            Ok(9890)
        );
    }

    #[test]
    fn refuses_what_is_not_a_decimal_number() {
        for bad in [
            json!("12,50"),
            json!(""),
            json!("."),
            json!("1e"),
            json!(null),
            json!(true),
        ] {
            assert!(
                matches!(to_minor(&bad, "usd"), Err(MoneyError::NotANumber(_))),
                "{bad}"
            );
        }
        assert!(to_minor(&json!("9".repeat(31)), "usd").is_err());
        assert!(to_minor(&json!("1e999999"), "usd").is_err());
        assert!(matches!(
            to_minor(&json!("99999999999999999.99"), "usd"),
            Err(MoneyError::Overflow(_))
        ));
    }

    #[test]
    fn renders_minor_units_as_major_decimals() {
        assert_eq!(to_major_string(9890, "usd"), "98.90");
        assert_eq!(to_major_string(5000, "JPY"), "5000");
        assert_eq!(to_major_string(1234, "kwd"), "1.234");
        assert_eq!(to_major_string(5, "usd"), "0.05");
        assert_eq!(to_major_string(-550, "usd"), "-5.50");
        assert_eq!(to_major_string(i64::MIN, "usd"), "-92233720368547758.08");
    }
}
