package io.keyward.key;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import com.code_intelligence.jazzer.mutation.annotation.NotNull;
import java.util.regex.Pattern;

/**
 * Fuzzes the key parser with Jazzer. In the normal suite it fuzzes for a few seconds
 * (JAZZER_FUZZ is set for this module's tests); findings land in
 * src/test/resources/io/keyward/key/KeyFormatFuzzTestInputs and replay on every build after.
 */
class KeyFormatFuzzTest {
  private static final KeyFormat FORMAT = KeyFormat.withPrefix("kw");
  private static final Pattern SCANNER = Pattern.compile(KeyFormat.SCANNER_REGEX);

  @FuzzTest(maxDuration = "8s")
  void parserAnswersEveryStringWithoutThrowing(@NotNull String text) {
    ParsedKey parsed = FORMAT.parse(text);

    assertThat(parsed).isNotNull();
    if (parsed instanceof ParsedKey.Issued) {
      assertThat(SCANNER.matcher(text).matches()).isTrue();
    }
    if (!(parsed instanceof ParsedKey.Malformed)) {
      assertThat(KeyHash.of(text)).isNotNull();
    }
    assertThat(KeyFormat.redact(text).length()).isLessThanOrEqualTo(text.length() + 1);
  }
}
