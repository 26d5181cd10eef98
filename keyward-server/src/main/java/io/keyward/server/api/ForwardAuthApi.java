package io.keyward.server.api;

import io.helidon.http.HeaderName;
import io.helidon.http.HeaderNames;
import io.helidon.http.Status;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import io.keyward.admin.KeyAttributes;
import io.keyward.admin.Permissions;
import io.keyward.key.KeyRecord;
import io.keyward.logging.RateLimitedLogger;
import io.keyward.verify.Verdict;
import io.keyward.verify.Verifier;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.slf4j.LoggerFactory;

/**
 * Forward authentication for gateways: nginx {@code auth_request}, Caddy {@code forward_auth},
 * Traefik {@code ForwardAuth}, Envoy {@code ext_authz} over HTTP. The gateway sends a bodyless
 * request (any method; Envoy appends the client's path) carrying the client's headers, and reads
 * the verdict from the status:
 *
 * <ul>
 *   <li>200, empty body, with {@value #KEY_ID}, {@value #OWNER_ID} and {@value #SCOPES} for the
 *       gateway to pass upstream: the key is valid and holds every required scope;
 *   <li>401 with {@code WWW-Authenticate: Bearer realm="keyward"} (no key), {@code ...,
 *       error="invalid_token"} (a key that is not valid, whatever the reason: the client is not
 *       told whether it is unknown, revoked or expired) or {@code ..., error="invalid_request"}
 *       (more than one key header);
 *   <li>403 with {@code error="insufficient_scope", scope="..."}: a valid key without a required
 *       scope;
 *   <li>503 with {@code Retry-After}: Keyward cannot decide now, or the gateway is not set up right
 *       (its own key missing or refused, a bad parameter). Never a 401: a client is never told its
 *       key is bad because of Keyward or the gateway. nginx turns every status but 2xx, 401 and
 *       403 into a 500, which its example configuration maps to a 503.
 * </ul>
 *
 * <p>The gateway authenticates with its own {@code keyward:verify} (or admin) key in {@value
 * #GATEWAY_AUTHORIZATION}, which it must set (replacing anything a client sent), never in the
 * client's {@code Authorization}. The client's key is read from {@code Authorization: Bearer} or
 * from the header named by {@code keyHeader} (query) or {@value #KEY_HEADER} (header), whose whole
 * value is then the key; required scopes come from {@code scopes} (query, repeatable, separated by
 * commas or spaces) or {@value #REQUIRED_SCOPES} (header). These settings are the gateway's: a
 * gateway that forwards a client's headers must remove or set those two (the examples do), or a
 * client could choose them.
 */
public final class ForwardAuthApi {
  public static final String PATH = "/v1/forward-auth";
  public static final String GATEWAY_AUTHORIZATION = "Keyward-Authorization";
  public static final String KEY_HEADER = "Keyward-Key-Header";
  public static final String REQUIRED_SCOPES = "Keyward-Required-Scopes";
  public static final String KEY_ID = "Keyward-Key-Id";
  public static final String OWNER_ID = "Keyward-Owner-Id";
  public static final String SCOPES = "Keyward-Scopes";

  private static final HeaderName GATEWAY = HeaderNames.create(GATEWAY_AUTHORIZATION);
  private static final HeaderName KEY_HEADER_NAME = HeaderNames.create(KEY_HEADER);
  private static final HeaderName REQUIRED_SCOPES_NAME = HeaderNames.create(REQUIRED_SCOPES);
  private static final HeaderName KEY_ID_NAME = HeaderNames.create(KEY_ID);
  private static final HeaderName OWNER_ID_NAME = HeaderNames.create(OWNER_ID);
  private static final HeaderName SCOPES_NAME = HeaderNames.create(SCOPES);
  private static final String BEARER = "Bearer ";
  private static final String REALM = "Bearer realm=\"keyward\"";
  /** Between required scopes: commas or spaces (compiled once: this is on every request). */
  private static final java.util.regex.Pattern SCOPE_SEPARATOR =
      java.util.regex.Pattern.compile("[,\\s]+");
  /** Longest header name {@code keyHeader} may name. */
  private static final int MAX_HEADER_NAME = 64;

  private final Verifier verifier;
  private final RateLimitedLogger warnings;
  private final Counter allowed;
  private final Counter unauthenticated;
  private final Counter forbidden;
  private final Counter undecided;
  private final Counter misconfigured;

  public ForwardAuthApi(Verifier verifier, Clock clock, MeterRegistry registry) {
    this.verifier = verifier;
    this.warnings = new RateLimitedLogger(LoggerFactory.getLogger(ForwardAuthApi.class), clock,
        Duration.ofSeconds(30));
    this.allowed = counter(registry, "allowed");
    this.unauthenticated = counter(registry, "unauthenticated");
    this.forbidden = counter(registry, "forbidden");
    this.undecided = counter(registry, "undecided");
    this.misconfigured = counter(registry, "misconfigured");
  }

  private static Counter counter(MeterRegistry registry, String result) {
    return Counter.builder("keyward.forward_auth")
        .description("Forward-auth answers to gateways, by result").tag("result", result)
        .register(registry);
  }

  public void register(RouteTable routing) {
    routing.any(PATH, this::handle);
    routing.any(PATH + "/*", this::handle); // Envoy appends the client's path
  }

  private void handle(ServerRequest request, ServerResponse response) {
    // 1. The gateway. Anything wrong here is the deployment's problem, not the client's: 503.
    String gatewayKey = single(request, GATEWAY);
    if (gatewayKey == null || !gatewayKey.regionMatches(true, 0, BEARER, 0, BEARER.length())) {
      throw misconfigured("the gateway sent no '" + GATEWAY_AUTHORIZATION
          + ": Bearer <keyward:verify key>' header (exactly one)");
    }
    KeyRecord gateway = switch (verifier.verifyCaller(gatewayKey.substring(BEARER.length()).strip())) {
      case Verdict.Valid valid -> valid.key();
      case Verdict.Denied denied -> throw misconfigured("the gateway's key in "
          + GATEWAY_AUTHORIZATION + " is not valid for this Keyward");
      case Verdict.Unavailable unavailable -> throw undecided(
          "cannot check the gateway's key now: " + unavailable.reason());
    };
    if (!Permissions.mayVerify(gateway)) {
      throw misconfigured("the gateway's key lacks the '" + Permissions.VERIFY + "' scope");
    }
    List<String> required = requiredScopes(request);
    HeaderName keyHeader = keyHeader(request);

    // 2. The client's key: its absence or its shape is the client's problem: 401.
    List<String> values = request.headers().contains(keyHeader)
        ? request.headers().get(keyHeader).allValues() : List.of();
    if (values.size() > 1) {
      throw unauthenticated("invalid_request", "more than one " + keyHeader.defaultCase()
          + " header; send exactly one");
    }
    String key = values.isEmpty() ? null : values.getFirst();
    if (key != null && keyHeader.equals(HeaderNames.AUTHORIZATION)) {
      key = key.regionMatches(true, 0, BEARER, 0, BEARER.length())
          ? key.substring(BEARER.length()) : null;
    }
    key = key == null ? null : key.strip();
    if (key == null || key.isEmpty()) {
      unauthenticated.increment();
      throw ApiError.challenged(Status.UNAUTHORIZED_401, "UNAUTHORIZED", "no API key: send "
          + (keyHeader.equals(HeaderNames.AUTHORIZATION) ? "'Authorization: Bearer <key>'"
              : "the key in " + keyHeader.defaultCase()), REALM);
    }

    // 3. The verdict.
    Verdict verdict;
    try {
      verdict = verifier.verify(key, required);
    } catch (RuntimeException e) {
      throw undecided("verification failed unexpectedly");
    }
    switch (verdict) {
      case Verdict.Valid valid -> {
        allowed.increment();
        KeyRecord record = valid.key();
        response.header(KEY_ID_NAME, headerSafe(record.keyId()));
        response.header(OWNER_ID_NAME, headerSafe(record.ownerId()));
        response.header(SCOPES_NAME, String.join(" ", record.scopes()));
        response.header(HeaderNames.CACHE_CONTROL, "no-store");
        response.status(Status.OK_200);
        response.send();
      }
      case Verdict.Denied denied when denied.outcome() == io.keyward.verify.Outcome.INSUFFICIENT_SCOPE -> {
        forbidden.increment();
        throw ApiError.challenged(Status.FORBIDDEN_403, "INSUFFICIENT_SCOPE",
            "the API key lacks a required scope", REALM + ", error=\"insufficient_scope\", scope=\""
                + String.join(" ", required) + "\"");
      }
      case Verdict.Denied denied -> throw unauthenticated("invalid_token",
          "the API key is not valid");
      case Verdict.Unavailable unavailable -> throw undecided("cannot decide now: "
          + unavailable.reason());
    }
  }

  private ApiError unauthenticated(String error, String message) {
    unauthenticated.increment();
    return ApiError.challenged(Status.UNAUTHORIZED_401, "UNAUTHORIZED", message,
        REALM + ", error=\"" + error + "\"");
  }

  private ApiError undecided(String message) {
    undecided.increment();
    return ApiError.unavailable(message);
  }

  private ApiError misconfigured(String message) {
    misconfigured.increment();
    warnings.warn("forward-auth: {}; answering 503 (fix the gateway's configuration)", message);
    return ApiError.unavailable("GATEWAY_MISCONFIGURED", message);
  }

  /** The one value of a header, or null if absent or repeated. */
  private static String single(ServerRequest request, HeaderName name) {
    if (!request.headers().contains(name)) {
      return null;
    }
    List<String> values = request.headers().get(name).allValues();
    return values.size() == 1 ? values.getFirst() : null;
  }

  private HeaderName keyHeader(ServerRequest request) {
    String named = request.query().first("keyHeader").orElse(null);
    if (named == null) {
      named = single(request, KEY_HEADER_NAME);
    }
    if (named == null) {
      return HeaderNames.AUTHORIZATION;
    }
    if (named.isEmpty() || named.length() > MAX_HEADER_NAME || !named.chars().allMatch(
        c -> (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
            || c == '-' || c == '_')) {
      throw misconfigured("keyHeader must name a header (1-" + MAX_HEADER_NAME
          + " letters, digits, '-' or '_'), got '" + RequestFields.truncate(named) + "'");
    }
    if (named.regionMatches(true, 0, "Keyward-", 0, 8)) {
      throw misconfigured("keyHeader cannot name one of Keyward's own headers, got '" + named
          + "'");
    }
    return HeaderNames.create(named);
  }

  private List<String> requiredScopes(ServerRequest request) {
    List<String> raw = new ArrayList<>(request.query().all("scopes", List::of));
    if (request.headers().contains(REQUIRED_SCOPES_NAME)) {
      raw.addAll(request.headers().get(REQUIRED_SCOPES_NAME).allValues());
    }
    if (raw.isEmpty()) {
      return List.of();
    }
    Set<String> scopes = new LinkedHashSet<>();
    for (String value : raw) {
      for (String scope : SCOPE_SEPARATOR.split(value)) {
        if (scope.isEmpty()) {
          continue;
        }
        if (!KeyAttributes.SCOPE_PATTERN.matcher(scope).matches()) {
          throw misconfigured("scopes: '" + RequestFields.truncate(scope) + "' is not a scope"
              + " (1-100 of letters, digits and : . _ - /)");
        }
        scopes.add(scope);
      }
    }
    if (scopes.size() > KeysApi.MAX_REQUIRED_SCOPES) {
      throw misconfigured("scopes: at most " + KeysApi.MAX_REQUIRED_SCOPES + " may be required");
    }
    return List.copyOf(scopes);
  }

  /**
   * The value as a header value: unchanged when it is visible ASCII without {@code %}, else its
   * UTF-8 bytes percent-encoded where needed (an owner id may hold any text; a header must not).
   */
  static String headerSafe(String value) {
    boolean plain = true;
    for (int i = 0; i < value.length() && plain; i++) {
      char c = value.charAt(i);
      plain = c > 0x20 && c < 0x7f && c != '%';
    }
    if (plain) {
      return value;
    }
    StringBuilder out = new StringBuilder(value.length() + 16);
    for (byte b : value.getBytes(StandardCharsets.UTF_8)) {
      int c = b & 0xff;
      if (c > 0x20 && c < 0x7f && c != '%') {
        out.append((char) c);
      } else {
        out.append('%').append(Character.toUpperCase(Character.forDigit(c >> 4, 16)))
            .append(Character.toUpperCase(Character.forDigit(c & 0xf, 16)));
      }
    }
    return out.toString();
  }
}
