//! Static (recovery) tokens: random `[A-Za-z0-9]` strings shown once, stored as keyed hashes.
//!
//! Why HMAC-SHA256 and not argon2id: a code is checked against every token of the user, so a
//! slow hash would multiply the cost of each attempt (and of each attacker's attempt against
//! the server) by the token count; the tokens are random, not chosen by people, so there is no
//! dictionary to slow down. The key (derived from the install secret) keeps short configured
//! token lengths safe from offline guessing when only the database leaks.

use rand::Rng;

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// authentik's upper bound for `token_length`.
pub const MAX_TOKEN_LENGTH: u32 = 100;

pub fn generate(count: u32, length: u32) -> Vec<String> {
    let mut rng = rand::rngs::OsRng;
    let length = length.clamp(1, MAX_TOKEN_LENGTH);
    (0..count)
        .map(|_| {
            (0..length)
                .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_the_configured_shape() {
        let tokens = generate(6, 12);
        assert_eq!(tokens.len(), 6);
        for token in &tokens {
            assert_eq!(token.len(), 12);
            assert!(token.chars().all(|c| c.is_ascii_alphanumeric()));
        }
        let unique: std::collections::HashSet<_> = tokens.iter().collect();
        assert_eq!(unique.len(), 6);
        assert_eq!(generate(1, 1000)[0].len(), MAX_TOKEN_LENGTH as usize);
    }
}
