package io.keyward.server.api;

import io.helidon.http.HeaderNames;
import io.helidon.http.HeaderValues;
import io.helidon.http.Method;
import io.helidon.http.Status;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;

/** Writes whole bodies, honouring {@code HEAD}: the GET answer's headers and length, no body. */
public final class Responses {
  private Responses() {}

  /** Sends a JSON body with this status. */
  public static void send(ServerRequest request, ServerResponse response, Status status, byte[] body) {
    response.status(status);
    response.header(HeaderValues.CONTENT_TYPE_JSON);
    sendBytes(request, response, body);
  }

  /** Sends {@code body} as it is (the caller set status and Content-Type). */
  public static void sendBytes(ServerRequest request, ServerResponse response, byte[] body) {
    if (request.prologue().method() == Method.HEAD) {
      // Helidon writes a body on HEAD if given one; an explicit length and no bytes is what
      // RFC 9110 asks: the length GET would have sent.
      response.header(HeaderNames.CONTENT_LENGTH, Integer.toString(body.length));
      response.send(new byte[0]);
    } else {
      response.send(body);
    }
  }
}
