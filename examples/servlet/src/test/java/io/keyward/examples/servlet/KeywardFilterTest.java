package io.keyward.examples.servlet;

import io.keyward.server.testing.EdgeAdapterContract;
import java.net.URI;

/** KeywardFilter (keyward-servlet) through the example application, a real Jetty: {@link EdgeAdapterContract}. */
class KeywardFilterTest extends EdgeAdapterContract {
  @Override
  protected App start(URI keyward, String verifyKey) throws Exception {
    OrdersApp app = new OrdersApp("127.0.0.1", 0, keyward, verifyKey);
    return App.of(app::port, () -> app.verifier().isUnsynced(),
        () -> app.verifier().stats().staleAllowed(), () -> app.verifier().stats().openAllowed(),
        app);
  }
}
