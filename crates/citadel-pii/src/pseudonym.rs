//! Consistent pseudonyms: HMAC-SHA256 under the caller's key over `entity ‖ 0 ‖ value` seeds a
//! generator of a fake value shaped like the original, so one key always maps one value to one
//! pseudonym. Values of checksummed types deliberately fail their checksum (Luhn, mod-97, SSN
//! area 9xx) so that a later scan does not count them as real data.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use ring::hmac;

use crate::names::GAZETTEER;
use crate::recognizers::iban::country_length;
use crate::recognizers::numeric::luhn_valid;
use crate::EntityType;

/// The pseudonym of `value` (of type `entity`) under `key`.
pub(crate) fn pseudonym(key: &hmac::Key, entity: EntityType, value: &str) -> String {
    let mut ctx = hmac::Context::with_key(key);
    ctx.update(entity.as_str().as_bytes());
    ctx.update(&[0]);
    ctx.update(value.as_bytes());
    let mut seed = [0u8; 32];
    seed.copy_from_slice(ctx.sign().as_ref());
    let mut rng = StdRng::from_seed(seed);
    let rng = &mut rng;
    match entity {
        EntityType::Person => {
            let given = pick(rng, &GAZETTEER.given_list);
            if value.split_whitespace().count() > 1 {
                format!("{given} {}", pick(rng, &GAZETTEER.family_list))
            } else {
                given.to_owned()
            }
        }
        EntityType::EmailAddress => {
            let given = pick(rng, &GAZETTEER.given_list).to_ascii_lowercase();
            let family = pick(rng, &GAZETTEER.family_list)
                .to_ascii_lowercase()
                .replace('\'', "");
            format!("{given}.{family}{}@example.com", rng.gen_range(10..100))
        }
        EntityType::PhoneNumber => format!(
            "+1 555 {:03} {:04}",
            rng.gen_range(200..1000),
            rng.gen_range(0..10000)
        ),
        EntityType::UsSsn => format!(
            "{}-{:02}-{:04}",
            rng.gen_range(900..1000),
            rng.gen_range(1..100),
            rng.gen_range(1..10000)
        ),
        EntityType::CreditCard => card(rng, value),
        EntityType::IbanCode => iban(rng, value),
        EntityType::IpAddress if value.contains(':') => format!(
            "2001:db8:{:x}:{:x}::{:x}",
            rng.gen::<u16>(),
            rng.gen::<u16>(),
            rng.gen::<u16>()
        ),
        EntityType::IpAddress => format!(
            "10.{}.{}.{}",
            rng.gen::<u8>(),
            rng.gen::<u8>(),
            rng.gen_range(1..255)
        ),
        EntityType::MacAddress => {
            let b: [u8; 5] = rng.gen();
            format!(
                "02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                b[0], b[1], b[2], b[3], b[4]
            )
        }
        EntityType::Url => format!("https://example.com/{:08x}", rng.gen::<u32>()),
        EntityType::DateOfBirth => format!(
            "{}-{:02}-{:02}",
            rng.gen_range(1940..2006),
            rng.gen_range(1..13),
            rng.gen_range(1..29)
        ),
        EntityType::Passport => format!("X{:08}", rng.gen_range(0..100_000_000)),
        EntityType::DriverLicense => format!("D{:07}", rng.gen_range(0..10_000_000)),
        EntityType::Credential => format!("credential-{:016x}", rng.gen::<u64>()),
    }
}

fn pick<'a>(rng: &mut StdRng, list: &[&'a str]) -> &'a str {
    if list.is_empty() {
        return "Alex";
    }
    list.get(rng.gen_range(0..list.len()))
        .copied()
        .unwrap_or("Alex")
}

/// A 16-digit Visa-shaped number whose last digit breaks the Luhn sum, grouped like `value`.
fn card(rng: &mut StdRng, value: &str) -> String {
    let mut digits: Vec<u8> = std::iter::once(b'4')
        .chain((0..15).map(|_| b'0' + rng.gen_range(0..10u8)))
        .collect();
    if luhn_valid(&digits) {
        if let Some(last) = digits.last_mut() {
            *last = b'0' + (*last - b'0' + 1) % 10;
        }
    }
    let sep = if value.contains('-') {
        "-"
    } else if value.contains(' ') {
        " "
    } else {
        ""
    };
    digits
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(sep)
}

/// An IBAN of the original's country (else Germany) with check digits `00`, which mod-97 never
/// produces.
fn iban(rng: &mut StdRng, value: &str) -> String {
    let country = value
        .get(..2)
        .filter(|c| country_length(c.as_bytes()).is_some())
        .unwrap_or("DE");
    let len = country_length(country.as_bytes()).unwrap_or(22);
    let bban: String = (4..len)
        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
        .collect();
    format!("{country}00{bban}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recognizers::iban::mod97_valid;
    use crate::recognizers::numeric::ssn_valid;

    #[test]
    fn pseudonyms_are_consistent_and_fail_checksums() {
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"dataset key");
        for t in EntityType::ALL {
            let a = pseudonym(&key, t, "value one");
            assert_eq!(a, pseudonym(&key, t, "value one"), "{t}");
            assert!(!a.is_empty());
            assert_ne!(a, "value one");
        }
        let card = pseudonym(&key, EntityType::CreditCard, "4111-1111-1111-1111");
        assert_eq!(card.len(), 19);
        assert!(!luhn_valid(card.replace('-', "").as_bytes()));
        let iban = pseudonym(&key, EntityType::IbanCode, "GB82WEST12345698765432");
        assert!(iban.starts_with("GB00") && iban.len() == 22);
        assert!(!mod97_valid(iban.as_bytes()));
        let ssn = pseudonym(&key, EntityType::UsSsn, "536-90-4399").replace('-', "");
        assert!(!ssn_valid(ssn.as_bytes()));
        assert_eq!(
            pseudonym(&key, EntityType::Person, "John Smith")
                .split(' ')
                .count(),
            2
        );
    }
}
