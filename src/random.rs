//! Where mask keys and handshake nonces come from.
//!
//! RFC 6455 §5.3 asks for masking keys that are unpredictable, "derived from a strong source of
//! entropy". The default, [`OsRandom`], reads the operating system's CSPRNG through `getrandom`,
//! a block at a time so that a key costs no system call. Embedded targets and deterministic tests
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

/// The operating system's CSPRNG (via `getrandom`), read 256 bytes at a time.
#[cfg(feature = "std")]
#[derive(Clone)]
pub struct OsRandom {
    block: [u8; 256],
    used: usize,
}

#[cfg(feature = "std")]
impl OsRandom {
    /// A source with an empty block; the first use reads from the OS.
    pub fn new() -> Self {
        OsRandom {
            block: [0; 256],
            used: 256,
        }
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
    fn fill(&mut self, mut dest: &mut [u8]) {
        // A mask key, the common request: fixed-size copies instead of the general loop.
        if let Ok(key) = <&mut [u8; 4]>::try_from(&mut *dest)
            && let Some(src) = self.block.get_mut(self.used..self.used + 4)
        {
            key.copy_from_slice(src);
            // Never hand out the same bytes twice.
            src.copy_from_slice(&[0; 4]);
            self.used += 4;
            return;
        }
        while !dest.is_empty() {
            if self.used == self.block.len() {
                // Without entropy no key can be safe; there is nothing sensible to fall back to.
                getrandom::fill(&mut self.block)
                    .expect("the operating system's random source failed");
                self.used = 0;
            }
            let n = dest.len().min(self.block.len() - self.used);
            dest[..n].copy_from_slice(&self.block[self.used..self.used + n]);
            // Never hand out the same bytes twice.
            self.block[self.used..self.used + n].fill(0);
            self.used += n;
            dest = &mut dest[n..];
        }
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
        // 1000 draws of 64 random bits: a repeat would mean the block is reused.
        assert_eq!(keys.len(), 1000);
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
