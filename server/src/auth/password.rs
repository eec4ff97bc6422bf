//! argon2id password hashing (PHC strings) under a bound: at most `concurrency` hashes run at
//! once (each needs 19 MiB), the rest wait in a FIFO queue for at most `queue_timeout` and are
//! then refused with [`EngineError::Busy`] ("try again"), never left hanging. Hashes run on the
//! blocking pool so a login never stalls the async runtime, each in a block buffer borrowed
//! from a pool (one buffer per permit) instead of 19 MiB allocated per request; buffers idle for
//! a while are freed by [`PasswordHasher::release_idle_memory`] (and the allocator is asked
//! to return free memory to the OS). Unknown users are checked
//! against a dummy hash with the same parameters, through the same queue, so timing does not
//! tell them apart from real ones.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::{
    password_hash::{Output, ParamsString, PasswordHash, SaltString},
    Algorithm, Argon2, Block, Params, Version,
};
use rand::rngs::OsRng;
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use crate::engine::EngineError;

/// OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane.
pub const MEMORY_KIB: u32 = 19 * 1024;
pub const ITERATIONS: u32 = 2;
pub const PARALLELISM: u32 = 1;
/// Default wait for a free hashing slot before a login is told to try again.
pub const DEFAULT_QUEUE_TIMEOUT: Duration = Duration::from_secs(5);

/// How many hashes may run at once and how long a request may wait for one.
#[derive(Clone, Copy, Debug)]
pub struct HashLimits {
    /// Hashes in flight at most (≥ 1); each holds one 19 MiB buffer.
    pub concurrency: usize,
    /// Longest wait in the queue for a free slot.
    pub queue_timeout: Duration,
}

impl Default for HashLimits {
    /// One hash per CPU core the process may use, 5 s of queueing.
    fn default() -> Self {
        Self {
            concurrency: std::thread::available_parallelism().map_or(1, |n| n.get()),
            queue_timeout: DEFAULT_QUEUE_TIMEOUT,
        }
    }
}

#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

struct Inner {
    dummy_hash: String,
    permits: Arc<Semaphore>,
    concurrency: usize,
    queue_timeout: Duration,
    pool: BlockPool,
    in_flight: AtomicUsize,
    peak_in_flight: AtomicUsize,
}

/// Reusable argon2 memory: buffers of `standard_blocks` blocks (our parameters), at most one per
/// permit, so a burst of logins costs `concurrency × 19 MiB` however long it lasts.
struct BlockPool {
    standard_blocks: usize,
    idle: Mutex<Vec<Vec<Block>>>,
    last_used: Mutex<Instant>,
}

impl BlockPool {
    /// A buffer of at least `blocks` blocks: a pooled one when that is large enough.
    fn take(&self, blocks: usize) -> Vec<Block> {
        if blocks <= self.standard_blocks {
            if let Some(buffer) = self.idle.lock().ok().and_then(|mut idle| idle.pop()) {
                return buffer;
            }
        }
        // A stored hash with more memory than ours gets a buffer of its own, freed after use.
        vec![Block::new(); blocks.max(self.standard_blocks)]
    }

    fn give_back(&self, buffer: Vec<Block>) {
        if let Ok(mut last) = self.last_used.lock() {
            *last = Instant::now();
        }
        if buffer.len() == self.standard_blocks {
            if let Ok(mut idle) = self.idle.lock() {
                idle.push(buffer);
            }
        }
    }
}

/// Our parameters for new hashes.
fn standard_params() -> Params {
    // The constants are valid argon2 parameters; `Params::new` only rejects out-of-range values.
    Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).unwrap_or_default()
}

fn hashing_error(error: impl std::fmt::Display) -> EngineError {
    EngineError::Hashing(error.to_string())
}

/// A new PHC string for `password` with our parameters and a random salt, using `memory`.
fn hash_with(password: &[u8], memory: &mut [Block]) -> Result<String, EngineError> {
    let params = standard_params();
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_raw = salt
        .as_salt()
        .decode_b64(&mut salt_bytes)
        .map_err(hashing_error)?;
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let output = Output::init_with(Params::DEFAULT_OUTPUT_LEN, |out| {
        argon2
            .hash_password_into_with_memory(password, salt_raw, out, &mut *memory)
            .map_err(Into::into)
    })
    .map_err(hashing_error)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(hashing_error)?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// What verifying a stored PHC string needs, read from the string itself (its algorithm,
/// version, memory, passes, lanes, salt and output length), so old hashes keep verifying after
/// our defaults change.
struct StoredHash {
    argon2: Argon2<'static>,
    salt: Vec<u8>,
    expected: Vec<u8>,
}

impl StoredHash {
    fn parse(phc: &str) -> Option<Self> {
        let parsed = PasswordHash::new(phc).ok()?;
        let algorithm = Algorithm::try_from(parsed.algorithm).ok()?;
        let version = parsed
            .version
            .map_or(Ok(Version::default()), Version::try_from)
            .ok()?;
        let params = Params::try_from(&parsed).ok()?;
        let mut salt_bytes = [0u8; 64];
        let salt = parsed.salt?.decode_b64(&mut salt_bytes).ok()?.to_vec();
        let expected = parsed.hash?.as_bytes().to_vec();
        Some(Self {
            argon2: Argon2::new(algorithm, version, params),
            salt,
            expected,
        })
    }

    fn blocks(&self) -> usize {
        self.argon2.params().block_count()
    }

    /// Recomputes the hash in `memory` and compares it in constant time.
    fn matches(&self, password: &[u8], memory: &mut [Block]) -> bool {
        let mut computed = vec![0u8; self.expected.len()];
        let ok = self
            .argon2
            .hash_password_into_with_memory(password, &self.salt, &mut computed, memory)
            .is_ok();
        ok && bool::from(computed.ct_eq(&self.expected))
    }
}

impl PasswordHasher {
    /// A hasher with [`HashLimits::default`].
    pub fn new() -> Result<Self, EngineError> {
        Self::with_limits(HashLimits::default())
    }

    /// A hasher running at most `limits.concurrency` hashes at once. Makes the dummy hash
    /// (one argon2id run, on the calling thread).
    pub fn with_limits(limits: HashLimits) -> Result<Self, EngineError> {
        let concurrency = limits.concurrency.max(1);
        let mut memory = vec![Block::new(); standard_params().block_count()];
        let dummy_hash = hash_with(crate::sessions::random_token().as_bytes(), &mut memory)?;
        drop(memory);
        Ok(Self {
            inner: Arc::new(Inner {
                dummy_hash,
                permits: Arc::new(Semaphore::new(concurrency)),
                concurrency,
                queue_timeout: limits.queue_timeout,
                pool: BlockPool {
                    standard_blocks: standard_params().block_count(),
                    idle: Mutex::new(Vec::with_capacity(concurrency)),
                    last_used: Mutex::new(Instant::now()),
                },
                in_flight: AtomicUsize::new(0),
                peak_in_flight: AtomicUsize::new(0),
            }),
        })
    }

    /// A new argon2id PHC string for `password`.
    ///
    /// Errors: [`EngineError::Busy`] when no hashing slot freed up within the queue timeout.
    pub async fn hash(&self, password: String) -> Result<String, EngineError> {
        let blocks = standard_params().block_count();
        self.run_bounded(blocks, move |memory| hash_with(password.as_bytes(), memory))
            .await?
    }

    /// Checks `password` against `stored` (a PHC string), with the parameters stored in it. With
    /// no usable stored hash the dummy hash is checked instead, taking the same time, and the
    /// answer is always `false`.
    ///
    /// Errors: [`EngineError::Busy`] when no hashing slot freed up within the queue timeout.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, EngineError> {
        let real = stored.as_deref().and_then(StoredHash::parse);
        let has_real_hash = real.is_some();
        let target = match real {
            Some(real) => real,
            None => StoredHash::parse(&self.inner.dummy_hash)
                .ok_or_else(|| hashing_error("the dummy hash does not parse"))?,
        };
        let blocks = target.blocks();
        let matched = self
            .run_bounded(blocks, move |memory| {
                target.matches(password.as_bytes(), memory)
            })
            .await?;
        Ok(matched && has_real_hash)
    }

    /// Frees the pooled hash memory when no hash has run for `idle` (after a burst, the
    /// buffers go back to the allocator). Returns how many buffers were freed.
    pub fn release_idle_memory(&self, idle: Duration) -> usize {
        let pool = &self.inner.pool;
        let quiet = pool.last_used.lock().is_ok_and(|t| t.elapsed() >= idle);
        if !quiet || self.inner.in_flight.load(Ordering::SeqCst) > 0 {
            return 0;
        }
        let freed = pool
            .idle
            .lock()
            .map(|mut buffers| std::mem::take(&mut *buffers))
            .unwrap_or_default();
        freed.len()
    }

    /// Calls [`Self::release_idle_memory`]`(idle)` every `every` until the process ends.
    pub fn spawn_memory_release(&self, every: Duration, idle: Duration) {
        let hasher = self.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(every);
            loop {
                ticker.tick().await;
                let freed = hasher.release_idle_memory(idle);
                if freed > 0 {
                    // The burst is over: what its requests freed goes back to the OS too.
                    crate::memory::return_free_memory();
                    tracing::debug!(freed, "released idle password-hash buffers");
                }
            }
        });
    }

    /// The most hashes that ran at the same time since start (never above the concurrency).
    pub fn peak_in_flight(&self) -> usize {
        self.inner.peak_in_flight.load(Ordering::SeqCst)
    }

    pub fn concurrency(&self) -> usize {
        self.inner.concurrency
    }

    /// Waits (up to the queue timeout) for a slot, then runs `work` on the blocking pool with
    /// a buffer of at least `blocks` blocks from the pool.
    async fn run_bounded<T: Send + 'static>(
        &self,
        blocks: usize,
        work: impl FnOnce(&mut [Block]) -> T + Send + 'static,
    ) -> Result<T, EngineError> {
        let acquire = self.inner.permits.clone().acquire_owned();
        let permit = match tokio::time::timeout(self.inner.queue_timeout, acquire).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(closed)) => return Err(hashing_error(closed)),
            Err(_elapsed) => return Err(EngineError::Busy),
        };
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let running = inner.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            inner.peak_in_flight.fetch_max(running, Ordering::SeqCst);
            let mut memory = inner.pool.take(blocks);
            let result = work(&mut memory[..blocks]);
            inner.pool.give_back(memory);
            inner.in_flight.fetch_sub(1, Ordering::SeqCst);
            drop(permit);
            result
        })
        .await
        .map_err(hashing_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordHasher as _;

    fn limits(concurrency: usize, queue_timeout: Duration) -> HashLimits {
        HashLimits {
            concurrency,
            queue_timeout,
        }
    }

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

    /// Hashes made elsewhere (argon2's own API) with other parameters, smaller and larger than
    /// our buffers, and with argon2i, verify with the parameters stored in them.
    #[tokio::test]
    async fn stored_parameters_are_used_for_verification() {
        let hasher = PasswordHasher::with_limits(limits(1, Duration::from_secs(30))).unwrap();
        let salt = SaltString::generate(&mut OsRng);
        for (algorithm, m, t, p) in [
            (Algorithm::Argon2id, 8 * 1024, 1, 1),
            (Algorithm::Argon2id, 24 * 1024, 1, 2),
            (Algorithm::Argon2i, 4096, 3, 1),
        ] {
            let params = Params::new(m, t, p, Some(24)).unwrap();
            let phc = Argon2::new(algorithm, Version::V0x13, params)
                .hash_password(b"s3cret", &salt)
                .unwrap()
                .to_string();
            assert!(
                hasher
                    .verify("s3cret".into(), Some(phc.clone()))
                    .await
                    .unwrap(),
                "{phc}"
            );
            assert!(!hasher.verify("s3cret!".into(), Some(phc)).await.unwrap());
        }
        // Our own buffers were reused in between; the large one was not kept.
        assert_eq!(hasher.inner.pool.idle.lock().unwrap().len(), 1);
        assert_eq!(
            hasher.inner.pool.idle.lock().unwrap()[0].len(),
            standard_params().block_count()
        );
    }

    /// More checks at once than permits: all finish, never more than the permits run at once,
    /// and the pool never holds more buffers than permits.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_checks_never_exceed_the_permits() {
        let hasher = PasswordHasher::with_limits(limits(2, Duration::from_secs(60))).unwrap();
        let hash = hasher.hash("right".into()).await.unwrap();
        let checks = (0..8).map(|i| {
            let (hasher, hash) = (hasher.clone(), hash.clone());
            tokio::spawn(async move {
                let password = if i % 2 == 0 { "right" } else { "wrong" };
                hasher.verify(password.into(), Some(hash)).await.unwrap() == (i % 2 == 0)
            })
        });
        for check in checks.collect::<Vec<_>>() {
            assert!(check.await.unwrap());
        }
        assert!(hasher.peak_in_flight() <= 2, "{}", hasher.peak_in_flight());
        assert!(hasher.inner.pool.idle.lock().unwrap().len() <= 2);
    }

    /// A check that cannot get a slot within the queue timeout is refused as `Busy` (for real
    /// and unknown users alike), while the ones that got a slot complete normally.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_check_queued_past_its_deadline_is_refused_as_busy() {
        let hasher = PasswordHasher::with_limits(limits(1, Duration::from_millis(1))).unwrap();
        let hash = hasher.hash("right".into()).await.unwrap();
        let checks: Vec<_> = (0..6)
            .map(|i| {
                let hasher = hasher.clone();
                let stored = (i % 2 == 0).then(|| hash.clone());
                tokio::spawn(async move { hasher.verify("wrong".into(), stored).await })
            })
            .collect();
        let mut busy = 0;
        for check in checks {
            match check.await.unwrap() {
                Ok(matched) => assert!(!matched),
                Err(EngineError::Busy) => busy += 1,
                Err(other) => panic!("unexpected error {other}"),
            }
        }
        assert!(busy >= 1, "no check was refused");
        assert_eq!(hasher.peak_in_flight(), 1);
    }

    #[tokio::test]
    async fn idle_buffers_are_released_after_the_burst() {
        let hasher = PasswordHasher::with_limits(limits(2, Duration::from_secs(30))).unwrap();
        hasher.verify("x".into(), None).await.unwrap();
        assert_eq!(hasher.release_idle_memory(Duration::from_secs(3600)), 0);
        assert_eq!(hasher.release_idle_memory(Duration::ZERO), 1);
        assert!(hasher.inner.pool.idle.lock().unwrap().is_empty());
    }
}
