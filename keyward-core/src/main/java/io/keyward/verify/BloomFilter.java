package io.keyward.verify;

import io.keyward.key.KeyHash;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * A Bloom filter of key hashes: "certainly absent" or "maybe present". The hashes are SHA-256
 * already, so their bits are the filter's hash functions (double hashing over two of the four
 * longs); nothing is hashed again.
 *
 * <p>Adds and reads may run concurrently without a lock: a bit, once set, stays set, and each add
 * sets its bits with an atomic OR before it returns, so an add that has returned is seen by every
 * later read. Reads only load words.
 */
public final class BloomFilter {
  /** Most bits one filter holds (2^31 words of 64 bits would not fit an array anyway). */
  static final long MAX_BITS = 1L << 34;

  private final AtomicLongArray words;
  private final long bits;
  private final int probes;
  private final long capacity;

  private BloomFilter(long bits, int probes, long capacity) {
    this.words = new AtomicLongArray(Math.toIntExact((bits + 63) >>> 6));
    this.bits = bits;
    this.probes = probes;
    this.capacity = capacity;
  }

  /**
   * A filter sized for {@code capacity} hashes at a false-positive rate of
   * {@code falsePositiveRate} (at capacity; less below it).
   *
   * @throws IllegalArgumentException for a capacity below 1, a rate outside (0, 0.5], or a size
   *     beyond 2^34 bits
   */
  public static BloomFilter sizedFor(long capacity, double falsePositiveRate) {
    if (capacity < 1) {
      throw new IllegalArgumentException("a Bloom filter's capacity must be at least 1, got "
          + capacity);
    }
    if (!(falsePositiveRate > 0 && falsePositiveRate <= 0.5)) {
      throw new IllegalArgumentException("a Bloom filter's false-positive rate must be in (0, 0.5],"
          + " got " + falsePositiveRate);
    }
    double ln2 = Math.log(2);
    long bits = Math.max(64, (long) Math.ceil(-capacity * Math.log(falsePositiveRate) / (ln2 * ln2)));
    if (bits > MAX_BITS) {
      throw new IllegalArgumentException("a Bloom filter for " + capacity + " hashes at "
          + falsePositiveRate + " would need " + bits + " bits, more than " + MAX_BITS);
    }
    int probes = (int) Math.max(1, Math.min(16, Math.round((double) bits / capacity * ln2)));
    return new BloomFilter(bits, probes, capacity);
  }

  /** Adds {@code hash}; every read that starts after this returns sees it. */
  public void add(KeyHash hash) {
    long h1 = hash.h0();
    long h2 = hash.h1() | 1; // odd: the probes never collapse onto one bit
    for (int i = 0; i < probes; i++) {
      long bit = Long.remainderUnsigned(h1 + i * h2, bits);
      int word = (int) (bit >>> 6);
      long mask = 1L << bit;
      long current = words.get(word);
      while ((current & mask) == 0) {
        long witness = words.compareAndExchange(word, current, current | mask);
        if (witness == current) {
          break;
        }
        current = witness;
      }
    }
  }

  /** False only if {@code hash} was certainly never added. */
  public boolean mightContain(KeyHash hash) {
    long h1 = hash.h0();
    long h2 = hash.h1() | 1;
    for (int i = 0; i < probes; i++) {
      long bit = Long.remainderUnsigned(h1 + i * h2, bits);
      if ((words.get((int) (bit >>> 6)) & (1L << bit)) == 0) {
        return false;
      }
    }
    return true;
  }

  /** How many hashes it was sized for. */
  public long capacity() {
    return capacity;
  }

  /** Its size in bits. */
  public long bits() {
    return bits;
  }

  /** How many bits each hash sets. */
  public int probes() {
    return probes;
  }
}
