package io.keyward.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.keyward.admin.KeyAttributes;
import io.keyward.client.admin.KeywardClient.Response;
import io.keyward.key.Environment;
import io.keyward.key.KeyHash;
import io.keyward.server.testing.CapturedLogs;
import io.keyward.server.testing.KeywardTestServer;
import io.keyward.verify.Outcome;
import io.keyward.verify.Verdict;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Replay of incident I-5 (a strict parser rejected tokens of an older version and a flood of bad
 * tokens became stack traces and overload): every key of every format version and every imported
 * key stays valid, and a flood of random and mutated keys gets decided answers, never a 500,
 * never an exception, never a stack trace in the log.
 */
class IncidentI5ReplayTest {
  private static final long SEED = 0x49355f7265706c61L;
  private static KeywardTestServer keyward;
  private static final List<String> validKeys = new ArrayList<>();

  @BeforeAll
  static void importEveryCorpusKey() throws IOException {
    keyward = KeywardTestServer.start();
    for (String resource : List.of("/key-corpus/v1.txt", "/key-corpus/imported.txt")) {
      for (String key : corpus(resource)) {
        keyward.server().admin().importKey(KeyHash.of(key), new KeyAttributes(
            "corpus", "i5", Set.of("read"), "{}", null, Environment.LIVE));
        validKeys.add(key);
      }
    }
    for (int i = 0; i < 20; i++) {
      Map<String, Object> body = Map.of("name", "issued", "ownerId", "i5", "scopes", List.of("read"));
      validKeys.add(keyward.client().createKey(body).body().get("key").asText());
    }
  }

  @AfterAll
  static void stop() {
    keyward.close();
  }

  @Test
  void everyCorpusImportedAndIssuedKeyIsValidThroughHttp() {
    assertThat(validKeys).hasSizeGreaterThan(50);
    for (String key : validKeys) {
      Response response = keyward.client().verify(key, List.of("read"));
      assertThat(response.status()).as(key).isEqualTo(200);
      assertThat(response.body().get("code").asText()).as(key).isEqualTo("VALID");
    }
  }

  @Test
  void hundredThousandRandomAndMutatedKeysGetDecidedAnswersInProcess() {
    SplittableRandom random = new SplittableRandom(SEED);
    Map<Outcome, Integer> outcomes = new EnumMap<>(Outcome.class);
    int mutatedValid = 0;
    try (CapturedLogs logs = CapturedLogs.install()) {
      for (int i = 0; i < 100_000; i++) {
        boolean mutated = i % 2 == 0;
        String key = mutated ? mutate(validKeys.get(random.nextInt(validKeys.size())), random)
            : randomString(random);
        Verdict verdict = keyward.server().verifier().verify(key, List.of());
        outcomes.merge(verdict.outcome(), 1, Integer::sum);
        if (mutated && verdict instanceof Verdict.Valid && !validKeys.contains(key)) {
          mutatedValid++;
        }
      }
      assertThat(logs.lines()).noneMatch(line -> line.contains("\tat "));
    }

    assertThat(mutatedValid).isZero();
    assertThat(outcomes.getOrDefault(Outcome.UNAVAILABLE, 0)).isZero();
    assertThat(outcomes.get(Outcome.MALFORMED)).isGreaterThan(30_000);
    assertThat(outcomes.values().stream().mapToInt(Integer::intValue).sum()).isEqualTo(100_000);
  }

  @Test
  void fiveThousandBadKeysThroughHttpGetNo500() {
    SplittableRandom random = new SplittableRandom(SEED + 1);
    Map<Integer, Integer> statuses = new java.util.TreeMap<>();
    for (int i = 0; i < 5_000; i++) {
      String key = i % 2 == 0 ? mutate(validKeys.get(random.nextInt(validKeys.size())), random)
          : randomString(random);
      Response response = keyward.client().verify(key, List.of());
      statuses.merge(response.status(), 1, Integer::sum);
      if (response.status() == 200) {
        assertThat(response.body().get("code").asText()).isNotEqualTo("UNAVAILABLE");
      }
    }

    assertThat(statuses).containsOnlyKeys(200);
  }

  @Test
  void malformedFloodNeverReachesTheStore() {
    double storeLoadsBefore = loads();
    SplittableRandom random = new SplittableRandom(SEED + 2);
    for (int i = 0; i < 10_000; i++) {
      String key = validKeys.get(random.nextInt(20) + validKeys.size() - 20); // issued kw_ keys
      String typo = flipBodyCharacter(key, random);
      assertThat(keyward.server().verifier().verify(typo, List.of()).outcome())
          .isEqualTo(Outcome.MALFORMED);
    }

    assertThat(loads()).isEqualTo(storeLoadsBefore);
  }

  private static double loads() {
    String metrics = keyward.client().sendJson("GET", "/metrics", null, null, false).raw().body();
    return metrics.lines()
        .filter(line -> line.startsWith("keyward_cache_requests_total{result=\"miss\",tier=\"l1\"}"))
        .mapToDouble(line -> Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1)))
        .sum();
  }

  /** One of: substitute, insert, delete or swap a character, truncate, or append junk. */
  private static String mutate(String key, SplittableRandom random) {
    int at = random.nextInt(key.length());
    char c = (char) (0x21 + random.nextInt(0x5E));
    return switch (random.nextInt(6)) {
      case 0 -> key.substring(0, at) + c + key.substring(at + 1);
      case 1 -> key.substring(0, at) + c + key.substring(at);
      case 2 -> key.substring(0, at) + key.substring(at + 1);
      case 3 -> at + 1 < key.length()
          ? key.substring(0, at) + key.charAt(at + 1) + key.charAt(at) + key.substring(at + 2)
          : key + c;
      case 4 -> key.substring(0, at);
      default -> key + "\u0000\r\n" + c;
    };
  }

  private static String flipBodyCharacter(String key, SplittableRandom random) {
    int at = key.length() - 1 - random.nextInt(39);
    String digits = io.keyward.key.Base62.ALPHABET;
    char replacement;
    do {
      replacement = digits.charAt(random.nextInt(62));
    } while (replacement == key.charAt(at));
    return key.substring(0, at) + replacement + key.substring(at + 1);
  }

  private static String randomString(SplittableRandom random) {
    int length = random.nextInt(700);
    StringBuilder text = new StringBuilder(length);
    for (int i = 0; i < length; i++) {
      text.append(random.nextInt(8) == 0
          ? (char) random.nextInt(0xD800)
          : (char) (0x21 + random.nextInt(0x5E)));
    }
    return text.toString();
  }

  private static List<String> corpus(String resource) throws IOException {
    try (InputStream in = IncidentI5ReplayTest.class.getResourceAsStream(resource)) {
      return new String(in.readAllBytes(), StandardCharsets.US_ASCII).lines()
          .filter(line -> !line.isBlank() && !line.startsWith("#"))
          .map(line -> line.strip().split("\\s+")[0])
          .toList();
    }
  }
}
