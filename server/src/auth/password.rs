//! argon2id password hashing (PHC strings), run on the blocking pool so a login never stalls the
//! async runtime. Unknown users are checked against a dummy hash so timing does not tell them
//! apart from real ones.

use std::sync::Arc;

use argon2::{
    password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString},
    Algorithm, Argon2, Params, Version,
};
use rand::rngs::OsRng;

use crate::engine::EngineError;

/// OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane.
pub const MEMORY_KIB: u32 = 19 * 1024;
pub const ITERATIONS: u32 = 2;
pub const PARALLELISM: u32 = 1;

#[derive(Clone)]
pub struct PasswordHasher {
    dummy_hash: Arc<String>,
}

fn argon2() -> Argon2<'static> {
    // The constants are valid argon2 parameters; `Params::new` only rejects out-of-range values.
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_blocking(password: &str) -> Result<String, EngineError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| EngineError::Hashing(e.to_string()))
}

fn verify_blocking(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        // Verification uses the parameters stored in the hash; the final compare is constant time.
        Ok(parsed) => argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

impl PasswordHasher {
    pub fn new() -> Result<Self, EngineError> {
        let dummy = hash_blocking(&crate::sessions::random_token())?;
        Ok(Self {
            dummy_hash: Arc::new(dummy),
        })
    }

    pub async fn hash(&self, password: String) -> Result<String, EngineError> {
        tokio::task::spawn_blocking(move || hash_blocking(&password))
            .await
            .map_err(|e| EngineError::Hashing(e.to_string()))?
    }

    /// Checks `password` against `stored` (a PHC string). With no usable stored hash the dummy
    /// hash is checked instead, taking the same time, and the answer is always `false`.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, EngineError> {
        let usable = stored.filter(|s| s.starts_with("$argon2"));
        let has_real_hash = usable.is_some();
        let phc = usable.unwrap_or_else(|| self.dummy_hash.as_ref().clone());
        let matched = tokio::task::spawn_blocking(move || verify_blocking(&password, &phc))
            .await
            .map_err(|e| EngineError::Hashing(e.to_string()))?;
        Ok(matched && has_real_hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let hasher = PasswordHasher::new().unwrap();
        let hash = hasher.hash("correct horse".into()).await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(hasher
            .verify("correct horse".into(), Some(hash.clone()))
            .await
            .unwrap());
        assert!(!hasher
            .verify("wrong horse".into(), Some(hash))
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn a_missing_or_unusable_hash_never_verifies() {
        let hasher = PasswordHasher::new().unwrap();
        assert!(!hasher.verify("anything".into(), None).await.unwrap());
        assert!(!hasher
            .verify("anything".into(), Some(String::new()))
            .await
            .unwrap());
        assert!(!hasher
            .verify("anything".into(), Some("plaintext".into()))
            .await
            .unwrap());
    }
}
