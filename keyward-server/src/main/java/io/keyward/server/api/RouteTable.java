package io.keyward.server.api;

import io.helidon.http.HeaderNames;
import io.helidon.http.Method;
import io.helidon.http.PathMatcher;
import io.helidon.http.PathMatchers;
import io.helidon.webserver.http.Handler;
import io.helidon.webserver.http.HttpRouting;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Registers Keyward's routes and keeps HTTP's method rules that Helidon leaves to the
 * application: {@code HEAD} is served wherever {@code GET} is (same headers, no body; see {@link
 * Responses#send}), and a path that exists answers a method it does not take with 405 and an
 * {@code Allow} header instead of 404. Helidon matches routes in registration order, so {@link
 * #registerFallback} must come last.
 */
public final class RouteTable {
  private record Entry(PathMatcher matcher, Method method) {}

  private final HttpRouting.Builder routing;
  private final List<Entry> entries = new ArrayList<>();

  public RouteTable(HttpRouting.Builder routing) {
    this.routing = routing;
  }

  /** A GET route, also answering HEAD. */
  public RouteTable get(String path, Handler handler) {
    PathMatcher matcher = PathMatchers.create(path);
    routing.route(Method.predicate(Method.GET, Method.HEAD), matcher, handler);
    entries.add(new Entry(matcher, Method.GET));
    entries.add(new Entry(matcher, Method.HEAD));
    return this;
  }

  public RouteTable post(String path, Handler handler) {
    return route(Method.POST, path, handler);
  }

  public RouteTable put(String path, Handler handler) {
    return route(Method.PUT, path, handler);
  }

  public RouteTable patch(String path, Handler handler) {
    return route(Method.PATCH, path, handler);
  }

  public RouteTable delete(String path, Handler handler) {
    return route(Method.DELETE, path, handler);
  }

  /** A route answering every method (forward-auth: a gateway forwards the client's). */
  public RouteTable any(String path, Handler handler) {
    PathMatcher matcher = PathMatchers.create(path);
    List<Method> methods = List.of(Method.GET, Method.HEAD, Method.POST, Method.PUT,
        Method.PATCH, Method.DELETE, Method.OPTIONS);
    routing.route(Method.predicate(methods.toArray(Method[]::new)), matcher, handler);
    for (Method method : methods) {
      entries.add(new Entry(matcher, method));
    }
    return this;
  }

  private RouteTable route(Method method, String path, Handler handler) {
    PathMatcher matcher = PathMatchers.create(path);
    routing.route(method, matcher, handler);
    entries.add(new Entry(matcher, method));
    return this;
  }

  /** The catch-all after every route: 405 with {@code Allow} for a known path, else 404. */
  public void registerFallback() {
    routing.any((request, response) -> {
      Set<String> allowed = new LinkedHashSet<>();
      for (Entry entry : entries) {
        if (entry.matcher().match(request.prologue().uriPath()).accepted()) {
          allowed.add(entry.method().text());
        }
      }
      if (allowed.isEmpty()) {
        // Not Helidon's own 404: it writes a body even for HEAD.
        throw ApiError.notFound("no such resource");
      }
      response.header(HeaderNames.ALLOW, String.join(", ", allowed));
      throw ApiError.methodNotAllowed(request.prologue().method().text()
          + " is not allowed here; allowed: " + String.join(", ", allowed));
    });
  }
}
