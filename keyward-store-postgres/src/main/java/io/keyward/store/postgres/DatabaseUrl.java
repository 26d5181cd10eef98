package io.keyward.store.postgres;

import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import org.jspecify.annotations.Nullable;

/**
 * Where the PostgreSQL database is: a JDBC URL plus credentials. Accepts a JDBC URL ({@code
 * jdbc:postgresql://host:5432/db?user=u}) and the {@code postgres://user:pass@host:port/db} form
 * that hosting providers hand out ({@code postgresql://} too), which it turns into JDBC.
 *
 * <p>{@link #toString()} hides the password.
 */
public record DatabaseUrl(String jdbcUrl, @Nullable String user, @Nullable String password) {

  /**
   * Parses a database URL.
   *
   * @throws IllegalArgumentException saying what is wrong, without echoing a password
   */
  public static DatabaseUrl parse(String url) {
    if (url == null || url.isBlank()) {
      throw new IllegalArgumentException("database URL is empty");
    }
    String trimmed = url.strip();
    if (trimmed.startsWith("jdbc:postgresql:")) {
      return new DatabaseUrl(trimmed, null, null);
    }
    if (!trimmed.startsWith("postgres://") && !trimmed.startsWith("postgresql://")) {
      throw new IllegalArgumentException(
          "database URL must start with jdbc:postgresql://, postgres:// or postgresql://, got '"
              + schemeOf(trimmed) + "'");
    }
    URI uri;
    try {
      uri = new URI(trimmed);
    } catch (URISyntaxException e) {
      throw new IllegalArgumentException("database URL is not a valid URL: " + e.getReason());
    }
    if (uri.getHost() == null) {
      throw new IllegalArgumentException("database URL names no host");
    }
    String database = uri.getRawPath() == null || uri.getRawPath().length() <= 1
        ? "postgres"
        : uri.getRawPath().substring(1);
    String user = null;
    String password = null;
    if (uri.getRawUserInfo() != null) {
      String info = uri.getRawUserInfo();
      int colon = info.indexOf(':');
      user = decode(colon < 0 ? info : info.substring(0, colon));
      password = colon < 0 ? null : decode(info.substring(colon + 1));
    }
    String host = uri.getHost().contains(":") && !uri.getHost().startsWith("[")
        ? "[" + uri.getHost() + "]"
        : uri.getHost();
    StringBuilder jdbc = new StringBuilder("jdbc:postgresql://").append(host);
    if (uri.getPort() > 0) {
      jdbc.append(':').append(uri.getPort());
    }
    jdbc.append('/').append(database);
    if (uri.getRawQuery() != null) {
      jdbc.append('?').append(uri.getRawQuery());
    }
    return new DatabaseUrl(jdbc.toString(), user, password);
  }

  @Override
  public String toString() {
    return "DatabaseUrl[" + jdbcUrl.replaceAll("(?i)(password=)[^&]*", "$1***")
        + (user != null ? ", user=" + user : "") + (password != null ? ", password=***" : "") + "]";
  }

  private static String decode(String text) {
    return URLDecoder.decode(text, StandardCharsets.UTF_8);
  }

  private static String schemeOf(String url) {
    int colon = url.indexOf(':');
    return colon < 0 ? url.substring(0, Math.min(url.length(), 12)) : url.substring(0, colon);
  }
}
