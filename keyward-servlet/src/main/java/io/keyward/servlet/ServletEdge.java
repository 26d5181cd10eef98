package io.keyward.servlet;

import io.keyward.client.Edge;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.List;

/**
 * {@link Edge} for servlet requests: the route a request falls under, the values of its key
 * header, and a refusal written as an answer. Shared by {@link KeywardFilter} and the Spring
 * starter, so that both match routes and refuse alike.
 */
public final class ServletEdge {
  private ServletEdge() {}

  /**
   * The first of {@code routes} whose prefix the request's path starts with, or null. The path is
   * the decoded, normalised one the container routes by (servlet path and path info), never the
   * raw URI: "/api/%70ayments", "/api;x/payments" or "/x/../api/payments" must meet the route that
   * the servlet serving them is behind.
   */
  public static Edge.Route routeOf(HttpServletRequest request, List<Edge.Route> routes) {
    String servletPath = request.getServletPath();
    String pathInfo = request.getPathInfo();
    String path = (servletPath == null ? "" : servletPath) + (pathInfo == null ? "" : pathInfo);
    return Edge.routeFor(routes, path.isEmpty() ? "/" : path);
  }

  /** The first two values of the header {@code name} (two are enough to refuse several). */
  public static List<String> keyValues(HttpServletRequest request, String name) {
    List<String> values = new ArrayList<>(1);
    Enumeration<String> headers = request.getHeaders(name);
    while (headers != null && headers.hasMoreElements() && values.size() < 2) {
      values.add(headers.nextElement());
    }
    return values;
  }

  /**
   * Writes {@code refusal} (status, challenge, {@code Retry-After}, JSON body, {@code
   * Cache-Control: no-store}) unless the response is already committed.
   */
  public static void refuse(HttpServletResponse response, Edge.Refusal refusal)
      throws IOException {
    if (response.isCommitted()) {
      return;
    }
    response.resetBuffer();
    response.setStatus(refusal.status());
    if (refusal.challenge() != null) {
      response.setHeader("WWW-Authenticate", refusal.challenge());
    }
    if (refusal.retryAfter()) {
      response.setHeader("Retry-After", "1");
    }
    response.setHeader("Cache-Control", "no-store");
    response.setContentType("application/json");
    byte[] body = refusal.body().getBytes(StandardCharsets.UTF_8);
    response.setContentLength(body.length);
    try {
      response.getOutputStream().write(body);
    } catch (IllegalStateException writerTaken) {
      // An earlier filter took the writer: the same body through it.
      response.getWriter().write(refusal.body());
    }
  }
}
