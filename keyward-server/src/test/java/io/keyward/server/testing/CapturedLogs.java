package io.keyward.server.testing;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.ThrowableProxyUtil;
import ch.qos.logback.core.AppenderBase;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.slf4j.LoggerFactory;

/** Everything logged, at every level, while installed: to check what logs may and may not hold. */
public final class CapturedLogs extends AppenderBase<ILoggingEvent> implements AutoCloseable {
  private final List<String> lines = new CopyOnWriteArrayList<>();
  private final Logger root = (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
  private final ch.qos.logback.classic.Level previous;

  private CapturedLogs() {
    previous = root.getLevel();
    root.setLevel(ch.qos.logback.classic.Level.ALL);
    setContext(root.getLoggerContext());
    start();
    root.addAppender(this);
  }

  public static CapturedLogs install() {
    return new CapturedLogs();
  }

  @Override
  protected void append(ILoggingEvent event) {
    String text = event.getLoggerName() + " " + event.getLevel() + " " + event.getFormattedMessage();
    if (event.getThrowableProxy() != null) {
      text += "\n" + ThrowableProxyUtil.asString(event.getThrowableProxy());
    }
    lines.add(text);
  }

  /** Every captured line, with stack traces. */
  public List<String> lines() {
    return List.copyOf(lines);
  }

  @Override
  public void close() {
    root.detachAppender(this);
    root.setLevel(previous);
    stop();
  }
}
