package io.keyward.benchmarks;

import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;

/**
 * Which of the {@link #KEYS} prepared keys a benchmark thread uses next, so a benchmark never
 * measures a single hot key.
 */
@State(Scope.Thread)
public class KeyCursor {
  /** Keys each benchmark prepares; a power of two, so the cursor wraps with a mask. */
  public static final int KEYS = 1024;

  private int index;

  int next() {
    index = (index + 1) & (KEYS - 1);
    return index;
  }
}
