package io.keyward.key;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The key format. Properties are checked over many generated cases from a fixed seed (printed in
 * the failure message, so a failure can be replayed).
 */
class KeyFormatTest {
  private static final long SEED = 0x6b65797761726431L;
  private static final int TRIES = 2_000;
  private static final Pattern SCANNER = Pattern.compile(KeyFormat.SCANNER_REGEX);
  private static final String PRINTABLE = printableAscii();

  private final KeyFormat format = KeyFormat.withPrefix("kw");

  @Test
  void generatedKeysMatchThePublishedRegexAndParseAsIssued() {
    for (Environment environment : Environment.values()) {
      String key = format.generate(environment);

      assertThat(key).matches(SCANNER).startsWith("kw_" + environment.label() + "_1");
      assertThat(key).hasSize("kw_".length() + environment.label().length() + 1 + 40);
      assertThat(format.parse(key)).isEqualTo(new ParsedKey.Issued(environment, 1));
    }
  }

  @Test
  void currentVersionCarriesAtLeast192RandomBits() {
    double bits = KeyFormat.CURRENT.randomDigits() * (Math.log(62) / Math.log(2));

    assertThat(bits).isGreaterThanOrEqualTo(192);
  }

  @Test
  void generatedKeysDoNotRepeat() {
    Set<String> seen = new HashSet<>();
    for (int i = 0; i < 20_000; i++) {
      assertThat(seen.add(format.generate(Environment.LIVE))).isTrue();
    }
  }

  @Test
  void randomDigitsAreSpreadOverTheWholeAlphabet() {
    int[] counts = new int[62];
    for (int i = 0; i < 5_000; i++) {
      String key = format.generate(Environment.TEST);
      for (int j = 9; j < 9 + 33; j++) {
        counts[Base62.digitValue(key.charAt(j))]++;
      }
    }
    double expected = 5_000 * 33 / 62.0;
    for (int count : counts) {
      // Each digit within 10% of uniform: rejection sampling has no modulo bias.
      assertThat(count).isBetween((int) (expected * 0.9), (int) (expected * 1.1));
    }
  }

  @Test
  void everyCorpusKeyOfEveryVersionStillParsesAndHashesAsRecorded() throws IOException {
    List<String[]> corpus = corpus("/key-corpus/v1.txt");
    assertThat(corpus).hasSizeGreaterThanOrEqualTo(24);
    for (String[] entry : corpus) {
      String key = entry[0];
      String prefix = key.substring(0, key.indexOf('_'));

      assertThat(KeyFormat.withPrefix(prefix).parse(key))
          .as(key).isInstanceOf(ParsedKey.Issued.class);
      assertThat(KeyHash.of(key).toHex()).as(key).isEqualTo(entry[1]);
      // Under any other deployment prefix the key is foreign: looked up, never rejected.
      assertThat(KeyFormat.withPrefix("other").parse(key)).isInstanceOf(ParsedKey.Foreign.class);
    }
  }

  @Test
  void importedKeysOfAnyShapeAreForeignNeverMalformed() throws IOException {
    for (String[] entry : corpus("/key-corpus/imported.txt")) {
      assertThat(format.parse(entry[0])).as(entry[0]).isInstanceOf(ParsedKey.Foreign.class);
    }
  }

  @Test
  void everyEncodeParsesBackToItsEnvironmentAndVersion() {
    SplittableRandom random = new SplittableRandom(SEED);
    for (int i = 0; i < TRIES; i++) {
      String prefix = randomPrefix(random);
      Environment environment = Environment.values()[random.nextInt(2)];
      KeyFormat custom = KeyFormat.withPrefix(prefix);

      String key = custom.generate(environment);

      assertThat(custom.parse(key)).as("seed %d try %d: %s", SEED, i, key)
          .isEqualTo(new ParsedKey.Issued(environment, KeyFormat.CURRENT.number()));
    }
  }

  @Test
  void anyOneCharacterChangeIsNeverIssuedAndInsideTheBodyAlwaysMalformed() {
    SplittableRandom random = new SplittableRandom(SEED);
    for (int i = 0; i < TRIES; i++) {
      String key = format.generate(Environment.values()[random.nextInt(2)]);
      int position = random.nextInt(key.length());
      char replacement = PRINTABLE.charAt(random.nextInt(PRINTABLE.length()));
      if (replacement == key.charAt(position)) {
        continue;
      }
      String changed = key.substring(0, position) + replacement + key.substring(position + 1);

      ParsedKey parsed = format.parse(changed);

      assertThat(parsed).as("seed %d try %d: %s", SEED, i, changed)
          .isNotInstanceOf(ParsedKey.Issued.class);
      int firstRandomDigit = key.lastIndexOf('_') + 2;
      if (position >= firstRandomDigit && Base62.digitValue(replacement) >= 0) {
        // CRC32 catches every single-character change: the key keeps its shape and is MALFORMED.
        assertThat(parsed).as("seed %d try %d: %s", SEED, i, changed)
            .isEqualTo(MalformedReason.BAD_CHECKSUM.asResult());
      }
    }
  }

  @Test
  void everyPositionOfOneKeyDetectsEverySubstitution() {
    String key = format.generate(Environment.LIVE);
    int firstRandomDigit = key.lastIndexOf('_') + 2;
    for (int position = firstRandomDigit; position < key.length(); position++) {
      for (char c : Base62.ALPHABET.toCharArray()) {
        if (c == key.charAt(position)) {
          continue;
        }
        String changed = key.substring(0, position) + c + key.substring(position + 1);
        assertThat(format.parse(changed)).as(changed)
            .isEqualTo(MalformedReason.BAD_CHECKSUM.asResult());
      }
    }
  }

  @Test
  void parserIsTotalOverArbitraryStrings() {
    SplittableRandom random = new SplittableRandom(SEED);
    for (int i = 0; i < TRIES * 10; i++) {
      int length = random.nextInt(10) == 0 ? random.nextInt(KeyFormat.MAX_KEY_LENGTH_CHARS + 100) : random.nextInt(600);
      StringBuilder text = new StringBuilder(length);
      for (int j = 0; j < length; j++) {
        text.append(random.nextInt(4) == 0
            ? (char) random.nextInt(Character.MAX_VALUE + 1)
            : PRINTABLE.charAt(random.nextInt(PRINTABLE.length())));
      }

      ParsedKey parsed = format.parse(text);

      assertThat(parsed).as("seed %d try %d", SEED, i).isNotNull();
    }
    assertThat(format.parse(null)).isEqualTo(MalformedReason.EMPTY.asResult());
  }

  @Test
  void onlyWhatNoKeyCanBeIsMalformedByItsText() {
    assertThat(format.parse("")).isEqualTo(MalformedReason.EMPTY.asResult());
    int limit = KeyFormat.MAX_KEY_LENGTH_CHARS;
    assertThat(format.parse("a".repeat(limit + 1))).isEqualTo(MalformedReason.TOO_LONG.asResult());
    assertThat(format.parse("a".repeat(limit))).isInstanceOf(ParsedKey.Foreign.class);
    assertThat(format.parse("kw_live_ abc")).isEqualTo(MalformedReason.ILLEGAL_CHARACTER.asResult());
    assertThat(format.parse("key\u0000")).isEqualTo(MalformedReason.ILLEGAL_CHARACTER.asResult());
    assertThat(format.parse("clé")).isEqualTo(MalformedReason.ILLEGAL_CHARACTER.asResult());
  }

  @Test
  void keyOfAnUnknownNewerVersionIsForeignSoAnOlderReleaseLooksItUp() {
    String v1 = format.generate(Environment.LIVE);
    String newer = v1.substring(0, 8) + '2' + v1.substring(9);

    assertThat(format.parse(newer)).isInstanceOf(ParsedKey.Foreign.class);
  }

  @Test
  void keysUnderAnEarlierListedPrefixAreJudgedByTheirChecksum() {
    KeyFormat old = KeyFormat.withPrefix("old");
    KeyFormat renamed = KeyFormat.withPrefix("new").withEarlierPrefixes(java.util.List.of("old"));
    String oldKey = old.generate(Environment.TEST);
    String typo = oldKey.substring(0, oldKey.length() - 1) + (oldKey.endsWith("a") ? "b" : "a");

    assertThat(renamed.parse(oldKey)).isEqualTo(new ParsedKey.Issued(Environment.TEST, 1));
    assertThat(renamed.parse(typo)).isInstanceOf(ParsedKey.Malformed.class);
    assertThat(KeyFormat.withPrefix("new").parse(typo)).isInstanceOf(ParsedKey.Foreign.class);
    assertThat(renamed.generate(Environment.LIVE)).startsWith("new_live_");
    assertThatThrownBy(() -> renamed.withEarlierPrefixes(java.util.List.of("Bad")))
        .hasMessageContaining("'Bad'");
  }

  @Test
  void keywardShapeCoversAnyPrefixAndVersionButNotOtherStrings() {
    assertThat(KeyFormat.hasKeywardShape(KeyFormat.asciiBytes(KeyFormat.withPrefix("zz9").generate(Environment.LIVE)))).isTrue();
    assertThat(KeyFormat.hasKeywardShape(KeyFormat.asciiBytes("kw_test_7" + "x".repeat(60)))).isTrue();
    for (String other : new String[] {"", "kw_live_", "kw_prod_1abc", "Kw_live_1abc", "k_live_1abc",
        "kw_live_1ab-c", "9w_live_1abc", "abcdefghijklmnopq_live_1abc", "kw_live_" + "a".repeat(129),
        "sk_live_abc_def", "Bearer kw_live_1abc"}) {
      assertThat(KeyFormat.hasKeywardShape(KeyFormat.asciiBytes(other))).as(other).isFalse();
    }
  }

  @Test
  void invalidPrefixIsRefusedNamingIt() {
    assertThatThrownBy(() -> KeyFormat.withPrefix("KW"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("'KW'");
    assertThatThrownBy(() -> KeyFormat.withPrefix("k_w")).hasMessageContaining("'k_w'");
    assertThatThrownBy(() -> KeyFormat.withPrefix("k")).hasMessageContaining("'k'");
  }

  @Test
  void redactionShowsAtMostThePrefixAndFourCharacters() {
    String key = format.generate(Environment.LIVE);

    String redacted = KeyFormat.redact(key);

    assertThat(redacted).isEqualTo(key.substring(0, 12) + "…");
    assertThat(KeyFormat.redact("short-secret")).isEqualTo("shor…");
    assertThat(KeyFormat.redact("tiny")).isEqualTo("…");
    assertThat(KeyFormat.redact("abc\ndefghijklmnop")).doesNotContain("\n");
  }

  @Test
  void hashesAreSha256OfTheKeyText() {
    // SHA-256("abc"), from FIPS 180-2.
    assertThat(KeyHash.of("abc").toHex())
        .isEqualTo("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    KeyHash hash = KeyHash.of("kw_live_anything");
    assertThat(KeyHash.fromHex(hash.toHex())).isEqualTo(hash);
    assertThat(KeyHash.fromBytes(hash.toBytes())).isEqualTo(hash);
    assertThat(hash.toString()).doesNotContain(hash.toHex());
  }

  @Test
  void malformedHashTextIsRefusedSayingWhy() {
    assertThatThrownBy(() -> KeyHash.fromHex("abc")).hasMessageContaining("64 hexadecimal");
    assertThatThrownBy(() -> KeyHash.fromHex("g".repeat(64))).hasMessageContaining("position 0");
  }

  @Test
  void keyIdsAreWellFormedAndSortByCreationTime() {
    var clock = io.keyward.testing.MutableClock.startingAt2030();
    KeyIds ids = new KeyIds(clock, new SecureRandom());
    String first = ids.next();
    clock.advance(java.time.Duration.ofMillis(1));
    String second = ids.next();

    assertThat(KeyIds.isWellFormed(first)).isTrue();
    assertThat(first).isLessThan(second);
  }

  private static String randomPrefix(SplittableRandom random) {
    String letters = "abcdefghijklmnopqrstuvwxyz";
    String alnum = letters + "0123456789";
    StringBuilder prefix = new StringBuilder().append(letters.charAt(random.nextInt(26)));
    int more = 1 + random.nextInt(15);
    for (int i = 0; i < more; i++) {
      prefix.append(alnum.charAt(random.nextInt(alnum.length())));
    }
    return prefix.toString();
  }

  private static List<String[]> corpus(String resource) throws IOException {
    try (InputStream in = KeyFormatTest.class.getResourceAsStream(resource)) {
      assertThat(in).as(resource).isNotNull();
      return new String(in.readAllBytes(), StandardCharsets.US_ASCII).lines()
          .filter(line -> !line.isBlank() && !line.startsWith("#"))
          .map(line -> line.strip().split("\\s+"))
          .toList();
    }
  }

  private static String printableAscii() {
    StringBuilder out = new StringBuilder();
    for (char c = 0x21; c <= 0x7E; c++) {
      out.append(c);
    }
    return out.toString();
  }
}
