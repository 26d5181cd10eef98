package io.keyward.server.api;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Instant;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class IsoInstantTest {
  private static final long YEAR_10000 = 253_402_300_800L;

  @Test
  void writesWhatInstantToStringWritesForRandomInstantsOfEveryPrecision() {
    long seed = System.nanoTime();
    SplittableRandom random = new SplittableRandom(seed);
    char[] out = new char[IsoInstant.MAX_LENGTH];
    for (int i = 0; i < 50_000; i++) {
      long seconds = random.nextLong(YEAR_10000);
      int nanos = switch (i % 4) {
        case 0 -> 0;
        case 1 -> random.nextInt(1000) * 1_000_000;
        case 2 -> random.nextInt(1_000_000) * 1_000;
        default -> random.nextInt(1_000_000_000);
      };
      Instant instant = Instant.ofEpochSecond(seconds, nanos);
      int length = IsoInstant.format(instant, out);
      assertThat(new String(out, 0, length)).as("seed %d, %s", seed, instant)
          .isEqualTo(instant.toString());
    }
  }

  @Test
  void writesTheEdgesOfItsRangeAndLeapDays() {
    char[] out = new char[IsoInstant.MAX_LENGTH];
    for (Instant instant : new Instant[] {
        Instant.EPOCH,
        Instant.parse("2000-02-29T23:59:59.999999999Z"),
        Instant.parse("2024-02-29T00:00:00.001Z"),
        Instant.parse("2100-03-01T12:00:00.000001Z"),
        Instant.ofEpochSecond(YEAR_10000 - 1, 999_999_999)}) {
      int length = IsoInstant.format(instant, out);
      assertThat(new String(out, 0, length)).isEqualTo(instant.toString());
    }
  }

  @Test
  void declinesInstantsOutsideTheYears1970To9999() {
    char[] out = new char[IsoInstant.MAX_LENGTH];
    assertThat(IsoInstant.format(Instant.ofEpochSecond(-1), out)).isEqualTo(-1);
    assertThat(IsoInstant.format(Instant.ofEpochSecond(YEAR_10000), out)).isEqualTo(-1);
    assertThat(IsoInstant.format(Instant.MAX, out)).isEqualTo(-1);
  }
}
