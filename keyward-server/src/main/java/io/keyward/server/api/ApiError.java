package io.keyward.server.api;

import io.helidon.http.Status;
import org.jspecify.annotations.Nullable;

/**
 * A request Keyward answers with an error: bad input, missing auth, unknown key, conflict,
 * unavailable. An expected outcome, not a bug, so it carries no stack trace (creating one per bad
 * request is how incident I-5 turned bad input into overload).
 */
public final class ApiError extends RuntimeException {
  private static final long serialVersionUID = 1L;

  private final transient Status status;
  private final String code;
  private final int retryAfterSeconds;
  private final @Nullable String challenge;

  private ApiError(Status status, String code, String message, int retryAfterSeconds) {
    this(status, code, message, retryAfterSeconds, null);
  }

  private ApiError(Status status, String code, String message, int retryAfterSeconds,
      @Nullable String challenge) {
    super(message, null, false, false);
    this.status = status;
    this.code = code;
    this.retryAfterSeconds = retryAfterSeconds;
    this.challenge = challenge;
  }

  /**
   * A 401 or 403 with its own {@code WWW-Authenticate} challenge (RFC 6750: {@code Bearer
   * realm="keyward", error="invalid_token"}); other 401s get {@code Bearer realm="keyward"}.
   */
  public static ApiError challenged(Status status, String code, String message, String challenge) {
    return new ApiError(status, code, message, 0, challenge);
  }

  /** A 503 with its own code ({@code UNAVAILABLE} is {@link #unavailable}'s). */
  public static ApiError unavailable(String code, String message) {
    return new ApiError(Status.SERVICE_UNAVAILABLE_503, code, message, 1);
  }

  public static ApiError badRequest(String message) {
    return new ApiError(Status.BAD_REQUEST_400, "BAD_REQUEST", message, 0);
  }

  public static ApiError invalidField(String field, String problem) {
    return new ApiError(Status.BAD_REQUEST_400, "INVALID_FIELD", field + ": " + problem, 0);
  }

  public static ApiError unauthorized(String message) {
    return new ApiError(Status.UNAUTHORIZED_401, "UNAUTHORIZED", message, 0);
  }

  public static ApiError forbidden(String message) {
    return new ApiError(Status.FORBIDDEN_403, "FORBIDDEN", message, 0);
  }

  public static ApiError notFound(String message) {
    return new ApiError(Status.NOT_FOUND_404, "NOT_FOUND", message, 0);
  }

  public static ApiError methodNotAllowed(String message) {
    return new ApiError(Status.METHOD_NOT_ALLOWED_405, "METHOD_NOT_ALLOWED", message, 0);
  }

  public static ApiError conflict(String message) {
    return new ApiError(Status.CONFLICT_409, "CONFLICT", message, 0);
  }

  public static ApiError unsupportedMediaType(String message) {
    return new ApiError(Status.UNSUPPORTED_MEDIA_TYPE_415, "UNSUPPORTED_MEDIA_TYPE", message, 0);
  }

  public static ApiError tooManyRequests() {
    return new ApiError(
        Status.TOO_MANY_REQUESTS_429, "TOO_MANY_REQUESTS", "server is shedding load; retry", 1);
  }

  public static ApiError unavailable(String message) {
    return new ApiError(Status.SERVICE_UNAVAILABLE_503, "UNAVAILABLE", message, 1);
  }

  public Status status() {
    return status;
  }

  public String code() {
    return code;
  }

  /** The {@code WWW-Authenticate} value this error carries, or null for the default. */
  public @Nullable String challenge() {
    return challenge;
  }

  /** Seconds for a Retry-After header, or 0 for none. */
  public int retryAfterSeconds() {
    return retryAfterSeconds;
  }
}
