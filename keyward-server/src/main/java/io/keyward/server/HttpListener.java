package io.keyward.server;

import io.helidon.http.DirectHandler;
import io.helidon.http.DirectHandler.EventType;
import io.helidon.http.HeaderNames;
import io.helidon.http.HeaderValues;
import io.helidon.http.HttpException;
import io.helidon.http.ServerResponseHeaders;
import io.helidon.http.Status;
import io.helidon.webserver.CloseConnectionException;
import io.helidon.webserver.WebServer;
import io.helidon.webserver.http.DirectHandlers;
import io.helidon.webserver.http.HttpRouting;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import io.helidon.webserver.http1.Http1Config;
import io.keyward.server.api.ApiError;
import io.keyward.server.api.InvalidationsApi;
import io.keyward.server.api.Json;
import io.keyward.server.api.Responses;
import io.keyward.server.api.RouteTable;
import io.keyward.server.api.StreamPermits;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keyward's HTTP listener (Helidon SE): the protocol rules Helidon leaves to the application
 * (HTTP/1.0, 431, {@code Connection: close}, HEAD and 405 through {@link RouteTable}), load
 * shedding (429, never for probes), the count of requests in flight that a graceful stop drains,
 * and every error answer as Keyward's JSON, never Helidon's own text.
 */
final class HttpListener {
  private static final Logger LOG = LoggerFactory.getLogger(HttpListener.class);
  /** Most bytes of request headers accepted, all together; more is 431. */
  static final int MAX_HEADER_BYTES = 16 * 1024;
  private static final Status HEADERS_TOO_LARGE_431 =
      Status.create(431, "Request Header Fields Too Large");
  /** Helidon's message (given to direct handlers) when the headers pass its limit. */
  private static final String HEADER_SIZE_EXCEEDED = "Header size exceeded";

  private HttpListener() {}

  /**
   * Starts listening on the settings' host and port with the routes {@code register} adds.
   *
   * @param inFlight counts the requests being served (for a graceful stop's drain)
   * @throws IllegalStateException if it cannot listen there
   */
  static WebServer start(ServerSettings settings, AtomicInteger inFlight,
      Consumer<RouteTable> register) {
    var shedding = new Semaphore(settings.maxInFlight());
    DirectHandlers.Builder direct = DirectHandlers.builder();
    for (EventType type : EventType.values()) {
      // Every type, so that no default handler ever writes Helidon's own message in a body.
      direct.addHandler(type, HttpListener::directError);
    }
    Http1Config http1 = Http1Config.builder().maxHeadersSize(MAX_HEADER_BYTES).build();
    WebServer web = WebServer.builder()
        .host(settings.host())
        .port(settings.port())
        .maxPayloadSize(settings.maxBodyBytes())
        .shutdownHook(false)
        .addProtocol(http1)
        .addConnectionSelector(new Http10Selector(http1))
        // includeEntity only hands the direct handlers Helidon's message ("Header size
        // exceeded" tells 431 from 400); they never write it out.
        .errorHandling(e -> e.includeEntity(true).logAllMessages(false))
        .directHandlers(direct.build())
        .routing(routing -> {
          routing.addFilter((chain, request, response) -> {
            if (request.path().path().equals(InvalidationsApi.PATH)) {
              // A stream lasts as long as its client: not a request in flight (a drain would
              // wait for it); shed like any request until it is authenticated, then it gives
              // its permit back (it would hold it for hours) and is bounded on its own.
              if (!shedding.tryAcquire()) {
                throw ApiError.tooManyRequests();
              }
              StreamPermits.hold(shedding::release);
              try {
                chain.proceed();
              } finally {
                StreamPermits.release();
              }
              return;
            }
            boolean close = request.headers().containsToken(HeaderValues.CONNECTION_CLOSE);
            inFlight.incrementAndGet();
            try {
              String path = request.path().path();
              if (path.startsWith("/health/") || path.equals("/metrics")) {
                chain.proceed(); // probes are never shed: an overloaded node is still alive
              } else if (!shedding.tryAcquire()) {
                throw ApiError.tooManyRequests();
              } else {
                try {
                  chain.proceed();
                } finally {
                  shedding.release();
                }
              }
            } catch (ApiError error) {
              if (!close) {
                throw error; // the error handlers answer it
              }
              sendError(request, response, error); // answered here, so the close below runs
            } finally {
              inFlight.decrementAndGet();
            }
            if (close && response.isSent()) {
              // Helidon 4.5 answers "Connection: close" but keeps reading; HTTP/1.0 clients
              // (made Connection: close by Http10Selector) wait for the close.
              response.commit();
              throw new CloseConnectionException("client asked to close the connection");
            }
          });
          RouteTable routes = new RouteTable(routing);
          register.accept(routes);
          routes.registerFallback();
          registerErrorHandlers(routing);
        })
        .build()
        .start();
    if (web.port() < 0) { // Helidon logs a bind failure and carries on with port -1
      web.stop();
      throw new IllegalStateException("cannot listen on " + settings.host() + ":" + settings.port());
    }
    return web;
  }

  private static void registerErrorHandlers(HttpRouting.Builder routing) {
    routing
        .error(ApiError.class, HttpListener::sendError)
        .error(HttpException.class, (request, response, error) ->
            sendError(request, response, error.status(), codeOf(error.status()),
                error.status().reasonPhrase()))
        .error(Throwable.class, (request, response, error) -> {
          LOG.error("unexpected failure serving {} {}", request.prologue().method().text(),
              request.path().path(), error);
          sendError(request, response, Status.INTERNAL_SERVER_ERROR_500, "INTERNAL",
              "internal error");
        });
  }

  private static void sendError(ServerRequest request, ServerResponse response, ApiError error) {
    if (error.challenge() != null) {
      response.header(HeaderNames.WWW_AUTHENTICATE, error.challenge());
    } else if (error.status().code() == 401) {
      response.header(HeaderNames.WWW_AUTHENTICATE, "Bearer realm=\"keyward\"");
    }
    if (error.retryAfterSeconds() > 0) {
      response.header(HeaderNames.RETRY_AFTER, Integer.toString(error.retryAfterSeconds()));
    }
    sendError(request, response, error.status(), error.code(), error.getMessage());
  }

  private static void sendError(ServerRequest request, ServerResponse response, Status status,
      String code, String message) {
    Responses.send(request, response, status, Json.error(code, message));
  }

  private static String codeOf(Status status) {
    return switch (status.code()) {
      case 400 -> "BAD_REQUEST";
      case 404 -> "NOT_FOUND";
      case 405 -> "METHOD_NOT_ALLOWED";
      case 413 -> "PAYLOAD_TOO_LARGE";
      case 415 -> "UNSUPPORTED_MEDIA_TYPE";
      case 431 -> "HEADERS_TOO_LARGE";
      case 503 -> "UNAVAILABLE";
      default -> "HTTP_" + status.code();
    };
  }

  private static DirectHandler.TransportResponse directError(
      DirectHandler.TransportRequest request, EventType type, Status status,
      ServerResponseHeaders headers, String message) {
    Status answer = status;
    if (type == EventType.BAD_REQUEST && HEADER_SIZE_EXCEEDED.equals(message)) {
      answer = HEADERS_TOO_LARGE_431;
    }
    String text = switch (answer.code()) {
      case 413 -> "request body is larger than the server accepts";
      case 414 -> "request URI is longer than the server accepts";
      case 431 -> "request headers are larger than the server accepts ("
          + MAX_HEADER_BYTES + " bytes in all)";
      case 505 -> "HTTP version not supported; use HTTP/1.1";
      case 503 -> "server is overloaded; retry";
      case 500 -> "internal error";
      default -> "malformed HTTP request";
    };
    return DirectHandler.TransportResponse.builder()
        .status(answer)
        .headers(headers)
        .header(HeaderNames.CONTENT_TYPE, "application/json")
        .entity(Json.error(codeOf(answer), text))
        .build();
  }
}
