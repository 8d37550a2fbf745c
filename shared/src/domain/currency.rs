//! Currencies an event may sell in, and the amounts Stripe can charge.

/// The circulating currencies of ISO 4217 (list one, 2025 edition, with the
/// 2025 change of ANG to XCG), lowercase as Stripe takes them. Fund codes,
/// precious metals, the test code and "no currency" are left out: nobody
/// sells tickets in them.
const ISO_4217: &[&str] = &[
    "aed", "afn", "all", "amd", "aoa", "ars", "aud", "awg", "azn", "bam", "bbd", "bdt", "bgn",
    "bhd", "bif", "bmd", "bnd", "bob", "brl", "bsd", "btn", "bwp", "byn", "bzd", "cad", "cdf",
    "chf", "clp", "cny", "cop", "crc", "cuc", "cup", "cve", "czk", "djf", "dkk", "dop", "dzd",
    "egp", "ern", "etb", "eur", "fjd", "fkp", "gbp", "gel", "ghs", "gip", "gmd", "gnf", "gtq",
    "gyd", "hkd", "hnl", "htg", "huf", "idr", "ils", "inr", "iqd", "irr", "isk", "jmd", "jod",
    "jpy", "kes", "kgs", "khr", "kmf", "kpw", "krw", "kwd", "kyd", "kzt", "lak", "lbp", "lkr",
    "lrd", "lsl", "lyd", "mad", "mdl", "mga", "mkd", "mmk", "mnt", "mop", "mru", "mur", "mvr",
    "mwk", "mxn", "myr", "mzn", "nad", "ngn", "nio", "nok", "npr", "nzd", "omr", "pab", "pen",
    "pgk", "php", "pkr", "pln", "pyg", "qar", "ron", "rsd", "rub", "rwf", "sar", "sbd", "scr",
    "sdg", "sek", "sgd", "shp", "sle", "sos", "srd", "ssp", "stn", "svc", "syp", "szl", "thb",
    "tjs", "tmt", "tnd", "top", "try", "ttd", "twd", "tzs", "uah", "ugx", "usd", "uyu", "uzs",
    "ved", "ves", "vnd", "vuv", "wst", "xaf", "xcd", "xcg", "xof", "xpf", "yer", "zar", "zmw",
    "zwg",
];

/// Is `code` (any case) a circulating ISO 4217 currency?
pub fn is_iso_4217(code: &str) -> bool {
    let code = code.to_ascii_lowercase();
    ISO_4217.contains(&code.as_str())
}

/// The largest amount Stripe charges in one payment, in minor units of any
/// currency ("up to eight digits").
pub const STRIPE_MAX_AMOUNT: i64 = 99_999_999;

/// Stripe's minimum charge in minor units, where Stripe states one for the
/// currency. Source: Stripe's "Supported currencies" page, section "Minimum
/// and maximum charge amounts" (https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts).
/// For other currencies Stripe asks for the equivalent of USD 0.50 at the
/// day's rate, which no fixed table can check.
pub fn stripe_minimum_charge(code: &str) -> Option<i64> {
    let minimum = match code.to_ascii_lowercase().as_str() {
        "usd" | "aud" | "brl" | "cad" | "chf" | "eur" | "inr" | "nzd" | "sgd" => 50,
        "gbp" => 30,
        "jpy" => 50,
        "aed" | "myr" | "pln" | "ron" => 200,
        "bgn" => 100,
        "dkk" => 250,
        "nok" | "sek" => 300,
        "hkd" => 400,
        "mxn" => 1_000,
        "czk" => 1_500,
        "huf" => 17_500,
        _ => return None,
    };
    Some(minimum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn circulating_codes_in_any_case_are_currencies_and_made_up_ones_are_not() {
        for code in ["usd", "EUR", "Jpy", "chf", "xof", "xcg"] {
            assert!(is_iso_4217(code), "{code}");
        }
        for code in ["xyz", "abc", "xxx", "xau", "usdd", "us", ""] {
            assert!(!is_iso_4217(code), "{code}");
        }
    }

    #[test]
    fn the_list_is_sorted_without_duplicates() {
        assert!(ISO_4217.windows(2).all(|w| w[0] < w[1]));
        assert!(ISO_4217.iter().all(|c| c.len() == 3));
    }

    #[test]
    fn stripe_minimums_are_in_minor_units_of_the_currency() {
        assert_eq!(stripe_minimum_charge("usd"), Some(50));
        assert_eq!(stripe_minimum_charge("EUR"), Some(50));
        assert_eq!(stripe_minimum_charge("gbp"), Some(30));
        assert_eq!(
            stripe_minimum_charge("jpy"),
            Some(50),
            "yen have no minor unit"
        );
        assert_eq!(stripe_minimum_charge("xof"), None);
    }
}
