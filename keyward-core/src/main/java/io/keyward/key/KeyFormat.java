package io.keyward.key;

import java.security.SecureRandom;
import java.util.regex.Pattern;
import java.util.zip.CRC32;

/**
 * Keyward's key format: {@code {prefix}_{env}_{body}}, in the style of GitHub's tokens.
 *
 * <p>The body of format version 1 is 40 base62 characters: the version digit {@code 1}, 33 random
 * digits from a CSPRNG (196 bits) and a 6-digit CRC32 checksum over the ASCII of everything before
 * it ({@code prefix_env_} and the version and random digits). A key of version 1 under the default
 * prefix matches {@link #SCANNER_REGEX}, published so secret scanners can find leaked keys.
 *
 * <p>Compatibility rules. Every format version ever issued stays in {@link #VERSIONS}, so the
 * parser never rejects a version it once accepted. A new version gets a new version digit; an
 * older release that meets it sees an unknown shape and looks the key up by hash, so keys issued
 * by a newer release work on an older one during a rolling deploy. Strings of any other shape
 * (imported keys, keys issued under an earlier prefix) are {@link ParsedKey.Foreign} and are
 * decided by lookup, never by shape. Imported keys must be 1 to {@value #MAX_KEY_LENGTH_CHARS}
 * printable ASCII characters.
 *
 * <p>Instances are immutable and thread-safe. {@link #parse} and {@link #parseAscii} never throw;
 * {@link #parseAscii} never allocates.
 */
public final class KeyFormat {
  /**
   * Longest key string accepted from anyone, in characters; longer input is malformed. Generous
   * so that long tokens imported from other systems (JWT-style) still verify.
   */
  public static final int MAX_KEY_LENGTH_CHARS = 4096;

  /** The default deployment prefix. */
  public static final String DEFAULT_PREFIX = "kw";

  /** Which prefixes a deployment may choose: 2 to 16 lowercase letters and digits. */
  public static final Pattern PREFIX_PATTERN = Pattern.compile("[a-z][a-z0-9]{1,15}");

  /** Finds version-1 keys of any valid prefix in text (for secret scanners). */
  public static final String SCANNER_REGEX = "\\b[a-z][a-z0-9]{1,15}_(?:live|test)_1[0-9A-Za-z]{39}\\b";

  /** The layout of one format version's body. */
  public record Version(int number, int randomDigits, int checksumDigits) {
    /** Characters in the body: the version digit, the random digits and the checksum. */
    public int bodyLength() {
      return 1 + randomDigits + checksumDigits;
    }
  }

  /** Every version ever issued, indexed by its number; the last is the one issued now. */
  static final Version[] VERSIONS = {null, new Version(1, 33, 6)};

  /** The version new keys are issued in. */
  public static final Version CURRENT = VERSIONS[VERSIONS.length - 1];

  private static final Environment[] ENVIRONMENTS = Environment.values();
  private static final ParsedKey FOREIGN = new ParsedKey.Foreign();

  /** Bits of {@link #CHARACTER_CLASSES}: printable ASCII (0x21..0x7E), and a base62 digit. */
  private static final int PRINTABLE = 1;
  private static final int BASE62 = 2;
  /** The class bits of each byte value; 0 for anything not printable ASCII. */
  private static final byte[] CHARACTER_CLASSES = new byte[256];
  private static final ParsedKey[][] ISSUED = new ParsedKey[Environment.values().length][VERSIONS.length];

  static {
    for (int c = 0x21; c <= 0x7E; c++) {
      CHARACTER_CLASSES[c] = (byte) (PRINTABLE | (Base62.digitValue((char) c) >= 0 ? BASE62 : 0));
    }
    for (Environment environment : Environment.values()) {
      for (int v = 1; v < VERSIONS.length; v++) {
        ISSUED[environment.ordinal()][v] = new ParsedKey.Issued(environment, v);
      }
    }
  }

  /** Longest body of a key in Keyward's shape of any version, even one this build does not know. */
  private static final int MAX_BODY_LENGTH = 128;

  private final String prefix;
  /** This deployment's prefix first, then the ones it used before (keys under them still parse). */
  private final String[] prefixes;
  private final SecureRandom random;

  private KeyFormat(String prefix, String[] prefixes, SecureRandom random) {
    this.prefix = prefix;
    this.prefixes = prefixes;
    this.random = random;
  }

  /**
   * A format with the given deployment prefix.
   *
   * @throws IllegalArgumentException naming the prefix if it does not match {@link #PREFIX_PATTERN}
   */
  public static KeyFormat withPrefix(String prefix) {
    return withPrefix(prefix, new SecureRandom());
  }

  /** As {@link #withPrefix(String)}, drawing randomness from {@code random} (a CSPRNG). */
  public static KeyFormat withPrefix(String prefix, SecureRandom random) {
    requireValidPrefix(prefix);
    return new KeyFormat(prefix, new String[] {prefix}, random);
  }

  /**
   * This format, also judging keys under prefixes the deployment used before by their checksum
   * (a typo in such a key is {@code MALFORMED} without a lookup). Keys under an earlier prefix
   * that is not listed still verify: they are looked up by hash like any foreign string.
   *
   * @throws IllegalArgumentException naming a prefix that does not match {@link #PREFIX_PATTERN}
   */
  public KeyFormat withEarlierPrefixes(java.util.Collection<String> earlier) {
    java.util.LinkedHashSet<String> all = new java.util.LinkedHashSet<>();
    all.add(prefix);
    for (String p : earlier) {
      requireValidPrefix(p);
      all.add(p);
    }
    return new KeyFormat(prefix, all.toArray(new String[0]), random);
  }

  /** The prefixes whose keys this format judges: this deployment's first, then earlier ones. */
  public java.util.List<String> prefixes() {
    return java.util.List.of(prefixes);
  }

  private static void requireValidPrefix(String prefix) {
    if (prefix == null || !PREFIX_PATTERN.matcher(prefix).matches()) {
      throw new IllegalArgumentException(
          "key prefix '" + prefix + "' is invalid: use 2 to 16 lowercase letters and digits,"
              + " starting with a letter");
    }
  }

  /**
   * Whether {@code key} (as {@link #asciiBytes}) has the shape of a key some Keyward issued under
   * any prefix and any format version, known to this build or newer: {@code prefix_env_} and a
   * base62 body. Callers of Keyward's own API hold such keys; whether this deployment issued one
   * is for its stored record to say, not its shape, so a prefix change or a newer format version
   * never locks a caller out.
   */
  public static boolean hasKeywardShape(byte[] key) {
    if (key == null) {
      return false;
    }
    int length = key.length;
    int p = 0;
    while (p < length && p <= 16 && key[p] != '_') {
      byte c = key[p];
      boolean letter = c >= 'a' && c <= 'z';
      if (!(letter || (p > 0 && c >= '0' && c <= '9'))) {
        return false;
      }
      p++;
    }
    if (p < 2 || p > 16 || p >= length) {
      return false;
    }
    Environment environment = environmentAt(key, p + 1);
    if (environment == null) {
      return false;
    }
    int bodyStart = p + 1 + environment.label().length() + 1;
    int bodyLength = length - bodyStart;
    return bodyLength >= 1 && bodyLength <= MAX_BODY_LENGTH
        && (classesOf(key, bodyStart, length) & BASE62) != 0;
  }

  /** This deployment's prefix. */
  public String prefix() {
    return prefix;
  }

  /** Issues a new key of the current version; the only place secrets are created. */
  public String generate(Environment environment) {
    StringBuilder key = new StringBuilder(prefix.length() + 6 + CURRENT.bodyLength());
    key.append(prefix).append('_').append(environment.label()).append('_');
    key.append(Base62.ALPHABET.charAt(CURRENT.number()));
    Base62.appendRandom(key, random, CURRENT.randomDigits());
    long checksum = crc32(asciiBytes(key), key.length());
    Base62.appendFixed(key, checksum, CURRENT.checksumDigits());
    return key.toString();
  }

  /**
   * Tells what {@code key} is. Total: any input, including null, gives an answer.
   *
   * <p>Only a string with the full shape of a known version ({@code prefix_env_}, that version's
   * digit, its exact body length, all base62) is judged by its checksum. Any other printable
   * string is {@link ParsedKey.Foreign}: it may be an imported key of any shape, or a key of a
   * newer format version issued by a newer release running beside this one, and only a lookup by
   * hash may decide it. A shape check never rejects a key that was valid yesterday.
   */
  public ParsedKey parse(CharSequence key) {
    return parseAscii(asciiBytes(key));
  }

  /**
   * The characters of {@code key} as bytes, one per character, for {@link #parseAscii} and
   * {@link KeyHash#ofAscii}: a printable ASCII character becomes itself and any other character
   * becomes 0, which the parser rejects. At most {@value #MAX_KEY_LENGTH_CHARS} + 1 characters are
   * converted, enough for the parser to see that a longer key is too long; null gives no bytes.
   *
   * <p>The verifier converts a key once and uses the bytes for both the checksum and the hash.
   */
  public static byte[] asciiBytes(CharSequence key) {
    if (key == null) {
      return new byte[0];
    }
    byte[] bytes = new byte[Math.min(key.length(), MAX_KEY_LENGTH_CHARS + 1)];
    for (int i = 0; i < bytes.length; i++) {
      char c = key.charAt(i);
      // Not a plain (byte) cast: that would turn e.g. U+0141 into 'A' and make it look printable.
      bytes[i] = c >= 0x21 && c <= 0x7E ? (byte) c : 0;
    }
    return bytes;
  }

  /**
   * As {@link #parse(CharSequence)}, for a key given as {@link #asciiBytes} of it. Total: any
   * array, including null, gives an answer.
   */
  public ParsedKey parseAscii(byte[] key) {
    if (key == null || key.length == 0) {
      return MalformedReason.EMPTY.asResult();
    }
    int length = key.length;
    if (length > MAX_KEY_LENGTH_CHARS) {
      return MalformedReason.TOO_LONG.asResult();
    }
    // The character checks AND table entries without a branch per character; measured to be
    // about twice as fast as a range test and a base62 lookup that each stop at the first miss.
    if ((classesOf(key, 0, length) & PRINTABLE) == 0) {
      return MalformedReason.ILLEGAL_CHARACTER.asResult();
    }
    int p = prefixLength(key);
    if (p < 0) {
      return FOREIGN;
    }
    Environment environment = environmentAt(key, p + 1);
    if (environment == null) {
      return FOREIGN;
    }
    int bodyStart = p + 1 + environment.label().length() + 1;
    if (bodyStart >= length) {
      return FOREIGN;
    }
    int versionNumber = Base62.digitValue((char) key[bodyStart]);
    if (versionNumber <= 0 || versionNumber >= VERSIONS.length) {
      return FOREIGN;
    }
    Version version = VERSIONS[versionNumber];
    if (length - bodyStart != version.bodyLength()) {
      return FOREIGN;
    }
    if ((classesOf(key, bodyStart + 1, length) & BASE62) == 0) {
      return FOREIGN;
    }
    int checksumStart = length - version.checksumDigits();
    long written = Base62.decodeFixed(key, checksumStart, version.checksumDigits());
    if (written != crc32(key, checksumStart)) {
      return MalformedReason.BAD_CHECKSUM.asResult();
    }
    return ISSUED[environment.ordinal()][versionNumber];
  }

  /**
   * A loggable stand-in for a key: this deployment's {@code prefix_env_} and the first four body
   * characters, or the first four characters of any other string, then an ellipsis. Never more;
   * control characters are replaced.
   */
  public static String redact(CharSequence key) {
    if (key == null) {
      return "<none>";
    }
    int show = 4;
    int envEnd = indexOfSecondUnderscore(key);
    if (envEnd > 0 && envEnd <= 24) {
      show = envEnd + 1 + 4;
    }
    int end = Math.min(show, Math.max(0, key.length() - 8)); // never most of a short key
    StringBuilder out = new StringBuilder(end + 1);
    for (int i = 0; i < end; i++) {
      char c = key.charAt(i);
      out.append(c >= 0x21 && c <= 0x7E ? c : '?');
    }
    return out.append('…').toString();
  }

  /** The length of the judged prefix {@code key} starts with (then {@code _}), or -1. */
  private int prefixLength(byte[] key) {
    for (String candidate : prefixes) {
      int p = candidate.length();
      if (key.length > p && key[p] == '_' && regionMatches(key, 0, candidate)) {
        return p;
      }
    }
    return -1;
  }

  private static int indexOfSecondUnderscore(CharSequence key) {
    int seen = 0;
    for (int i = 0; i < Math.min(key.length(), 25); i++) {
      if (key.charAt(i) == '_' && ++seen == 2) {
        return i;
      }
    }
    return -1;
  }

  private static Environment environmentAt(byte[] key, int from) {
    for (Environment environment : ENVIRONMENTS) {
      String label = environment.label();
      int end = from + label.length();
      if (end < key.length && key[end] == '_' && regionMatches(key, from, label)) {
        return environment;
      }
    }
    return null;
  }

  private static boolean regionMatches(byte[] key, int from, String text) {
    for (int i = 0; i < text.length(); i++) {
      if (key[from + i] != text.charAt(i)) {
        return false;
      }
    }
    return true;
  }

  /** The class bits every byte in {@code [from, to)} has. */
  private static int classesOf(byte[] key, int from, int to) {
    int classes = PRINTABLE | BASE62;
    for (int i = from; i < to; i++) {
      classes &= CHARACTER_CLASSES[key[i] & 0xFF];
    }
    return classes;
  }

  /**
   * CRC32 of the first {@code end} bytes. One call over the array, which the JIT compiles to the
   * CPU's CRC instructions; feeding it a character at a time cost more than the rest of parsing.
   */
  private static long crc32(byte[] key, int end) {
    CRC32 crc = new CRC32();
    crc.update(key, 0, end);
    return crc.getValue();
  }
}
