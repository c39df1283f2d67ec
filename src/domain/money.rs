//! Money in US dollars as whole micro-dollars (1 USD = 1,000,000): prices per million tokens
//! and what tokens cost at them. Integers only, so sums are exact and never drift.

/// Micro-dollars in a dollar.
const MICROS: i64 = 1_000_000;
/// The highest price accepted: $100,000 per million tokens (no model costs near that; a
/// typo like a missing decimal point does).
pub const MAX_PRICE_MICROS: i64 = 100_000 * MICROS;

/// Why a typed price was refused, as the sentence the form shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceError(pub &'static str);

/// Parses a price typed as dollars per million tokens ("0.15", "$2.50", "10") into
/// micro-dollars, exactly: at most six decimals, never negative.
pub fn parse_usd(input: &str) -> Result<i64, PriceError> {
    let s = input.trim();
    let s = s.strip_prefix('$').unwrap_or(s).trim();
    if s.is_empty() {
        return Err(PriceError(
            "Enter a price in US dollars per million tokens, like 0.15 or 2.50.",
        ));
    }
    if s.starts_with('-') {
        return Err(PriceError("A price cannot be negative."));
    }
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty()) || !digits(whole) || !digits(frac) {
        return Err(PriceError(
            "Enter a price in US dollars per million tokens, like 0.15 or 2.50.",
        ));
    }
    if frac.len() > 6 {
        return Err(PriceError("Use at most six decimal places."));
    }
    let too_high = PriceError("That is more than $100,000 per million tokens; check the price.");
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| too_high.clone())?
    };
    let frac_micros: i64 = if frac.is_empty() {
        0
    } else {
        // Pad to six digits: ".5" is 500000 micro-dollars.
        format!("{frac:0<6}").parse().unwrap_or(0)
    };
    let micros = whole
        .checked_mul(MICROS)
        .and_then(|w| w.checked_add(frac_micros))
        .ok_or_else(|| too_high.clone())?;
    if micros > MAX_PRICE_MICROS {
        return Err(too_high);
    }
    Ok(micros)
}

/// The cost in micro-dollars of `tokens` at `price` micro-dollars per million, rounded to
/// the nearest micro-dollar.
pub fn cost_micros(tokens: i64, price: i64) -> i64 {
    let exact = i128::from(tokens.max(0)) * i128::from(price.max(0));
    let rounded = (exact + 500_000) / 1_000_000;
    i64::try_from(rounded).unwrap_or(i64::MAX)
}

/// A price as typed back into a form: "0.15", "2.5", "10" (no trailing zeros, no "$").
pub fn price_input(micros: i64) -> String {
    let whole = micros / MICROS;
    let frac = micros % MICROS;
    if frac == 0 {
        return whole.to_string();
    }
    let frac = format!("{frac:06}");
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

/// A price for a table: "$0.15", "$2.50", "$0.075" (cents at least, more when needed).
pub fn price_display(micros: i64) -> String {
    let whole = micros / MICROS;
    let frac = format!("{:06}", micros % MICROS);
    let trimmed = frac.trim_end_matches('0');
    let shown = if trimmed.len() < 2 {
        &frac[..2]
    } else {
        trimmed
    };
    format!("${}.{shown}", group(whole))
}

/// An amount for a page: "$1,234.57", rounded to the cent; "< $0.01" for a positive amount
/// below a cent, so a little spending never reads as nothing.
pub fn usd_display(micros: i64) -> String {
    if micros > 0 && micros < 5_000 {
        return "< $0.01".into();
    }
    let cents = (micros + 5_000) / 10_000;
    format!("${}.{:02}", group(cents / 100), cents % 100)
}

/// An amount for a CSV file: dollars with all six decimals ("0.150000").
pub fn usd_csv(micros: i64) -> String {
    format!("{}.{:06}", micros / MICROS, micros % MICROS)
}

/// `1234567` → `"1,234,567"`.
fn group(n: i64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_parse_exactly_from_dollars_per_million() {
        assert_eq!(parse_usd("0.15"), Ok(150_000));
        assert_eq!(parse_usd(" $2.50 "), Ok(2_500_000));
        assert_eq!(parse_usd("10"), Ok(10_000_000));
        assert_eq!(parse_usd(".5"), Ok(500_000));
        assert_eq!(parse_usd("0.000001"), Ok(1));
        assert_eq!(parse_usd("0"), Ok(0));
        assert_eq!(parse_usd("100000"), Ok(MAX_PRICE_MICROS));
    }

    #[test]
    fn bad_prices_are_refused_with_a_sentence() {
        for bad in ["", "  ", "abc", "1,5", "1.2.3", ".", "1e3", "$", "0x10"] {
            assert!(parse_usd(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_usd("-1"),
            Err(PriceError("A price cannot be negative."))
        );
        assert_eq!(
            parse_usd("0.1234567"),
            Err(PriceError("Use at most six decimal places."))
        );
        assert!(parse_usd("100000.01").is_err());
        assert!(parse_usd("99999999999999999999999").is_err());
    }

    #[test]
    fn cost_is_tokens_times_price_per_million_rounded_to_a_micro_dollar() {
        assert_eq!(cost_micros(1_000_000, 150_000), 150_000);
        assert_eq!(cost_micros(1_000, 2_500_000), 2_500);
        assert_eq!(cost_micros(1, 1), 0);
        assert_eq!(cost_micros(1, 500_000), 1, "half rounds up");
        assert_eq!(cost_micros(-5, 150_000), 0);
        assert_eq!(cost_micros(i64::MAX, MAX_PRICE_MICROS), i64::MAX);
    }

    #[test]
    fn amounts_are_written_for_people_and_for_spreadsheets() {
        assert_eq!(price_input(150_000), "0.15");
        assert_eq!(price_input(10_000_000), "10");
        assert_eq!(price_input(75_000), "0.075");
        assert_eq!(price_display(150_000), "$0.15");
        assert_eq!(price_display(2_500_000), "$2.50");
        assert_eq!(price_display(75_000), "$0.075");
        assert_eq!(price_display(15_000_000_000), "$15,000.00");
        assert_eq!(usd_display(0), "$0.00");
        assert_eq!(usd_display(4_999), "< $0.01");
        assert_eq!(usd_display(5_000), "$0.01");
        assert_eq!(usd_display(1_234_567_890), "$1,234.57");
        assert_eq!(usd_csv(150_000), "0.150000");
        assert_eq!(usd_csv(12_000_001), "12.000001");
    }
}
