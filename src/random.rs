//! Where mask keys and handshake nonces come from.
//!
//! RFC 6455 §5.3 asks for masking keys that are unpredictable, "derived from a strong source of
//! entropy". The default, [`OsRandom`], is ChaCha12 keyed from the operating system's CSPRNG
//! (through `getrandom`), so that a key costs no system call. Embedded targets and deterministic tests
//! supply their own [`RandomSource`]; any `FnMut(&mut [u8])` is one.

/// A source of random bytes for mask keys and `Sec-WebSocket-Key` nonces.
///
/// Implementations used on the open network must be cryptographically secure.
pub trait RandomSource {
    /// Fills `dest` with random bytes.
    fn fill(&mut self, dest: &mut [u8]);
}

impl<F: FnMut(&mut [u8])> RandomSource for F {
    fn fill(&mut self, dest: &mut [u8]) {
        self(dest)
    }
}

/// A CSPRNG seeded from the operating system's (via `getrandom`): ChaCha12, as `rand`'s
/// `StdRng`, keyed with 32 bytes from the OS on first use.
///
/// A mask key then costs neither a system call nor the kernel's scalar ChaCha (a refill of a
/// 256-byte block from the OS was a quarter of the time of a 16-byte client send). Each instance
/// has its own key (a [`Clone`] is a fresh, unseeded source, never a copy of the stream), so a
/// connection's keys are as unpredictable as the OS's output. A process that forks after a
/// connection drew keys duplicates that connection's state as it duplicates everything else of
/// the connection; a fresh connection in the child seeds afresh.
#[cfg(feature = "std")]
pub struct OsRandom {
    rng: Option<rand_chacha::ChaCha12Rng>,
}

#[cfg(feature = "std")]
impl OsRandom {
    /// A source not seeded yet; the first use reads its seed from the OS.
    pub fn new() -> Self {
        OsRandom { rng: None }
    }

    #[cold]
    fn seeded() -> rand_chacha::ChaCha12Rng {
        use rand_chacha::rand_core::SeedableRng;
        let mut seed = [0u8; 32];
        // Without entropy no key can be safe; there is nothing sensible to fall back to.
        getrandom::fill(&mut seed).expect("the operating system's random source failed");
        rand_chacha::ChaCha12Rng::from_seed(seed)
    }
}

#[cfg(feature = "std")]
impl Clone for OsRandom {
    /// A fresh source with its own seed: two sources never hand out the same stream.
    fn clone(&self) -> Self {
        OsRandom::new()
    }
}

#[cfg(feature = "std")]
impl Default for OsRandom {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "std")]
impl core::fmt::Debug for OsRandom {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("OsRandom")
    }
}

#[cfg(feature = "std")]
impl RandomSource for OsRandom {
    #[inline]
    fn fill(&mut self, dest: &mut [u8]) {
        use rand_chacha::rand_core::RngCore;
        let rng = self.rng.get_or_insert_with(Self::seeded);
        if let Ok(key) = <&mut [u8; 4]>::try_from(&mut *dest) {
            // A mask key, the common request: one word of the generator's block.
            *key = rng.next_u32().to_ne_bytes();
            return;
        }
        rng.fill_bytes(dest);
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    #[test]
    fn os_random_gives_distinct_keys_across_blocks() {
        let mut rng = OsRandom::new();
        let mut keys = std::collections::HashSet::new();
        for _ in 0..1000 {
            let mut k = [0u8; 8];
            rng.fill(&mut k);
            keys.insert(k);
        }
        // 1000 draws of 64 random bits: a repeat would mean the stream is reused.
        assert_eq!(keys.len(), 1000);
    }

    #[test]
    fn os_random_sources_and_their_clones_have_their_own_streams() {
        let draw = |rng: &mut OsRandom| {
            let mut k = [0u8; 16];
            rng.fill(&mut k);
            k
        };
        let mut a = OsRandom::new();
        let first = draw(&mut a);
        let mut b = a.clone();
        let mut c = OsRandom::new();
        let (next, cloned, other) = (draw(&mut a), draw(&mut b), draw(&mut c));
        assert_ne!(first, next);
        assert_ne!(
            next, cloned,
            "a clone must not repeat its original's stream"
        );
        assert_ne!(next, other);
        assert_ne!(cloned, other);
        // Mask-key-sized draws come from the same stream without repeats.
        let keys: std::collections::HashSet<[u8; 4]> = (0..64)
            .map(|_| {
                let mut k = [0u8; 4];
                a.fill(&mut k);
                k
            })
            .collect();
        assert!(keys.len() >= 63, "4-byte keys repeat: {}", keys.len());
    }

    #[test]
    fn closures_are_sources() {
        let mut counter = 0u8;
        let mut src = |d: &mut [u8]| {
            for b in d {
                counter += 1;
                *b = counter;
            }
        };
        let mut k = [0u8; 4];
        RandomSource::fill(&mut src, &mut k);
        assert_eq!(k, [1, 2, 3, 4]);
    }
}
