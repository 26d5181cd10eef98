package io.keyward.examples.helidon;

import io.keyward.server.testing.EdgeAdapterContract;
import java.net.URI;

/** KeywardHelidonFilter (keyward-helidon) through the example application, a real Helidon server: {@link EdgeAdapterContract}. */
class KeywardHelidonFilterTest extends EdgeAdapterContract {
  @Override
  protected App start(URI keyward, String verifyKey) throws Exception {
    OrdersApp app = new OrdersApp("127.0.0.1", 0, keyward, verifyKey);
    return App.of(app::port, () -> app.verifier().isUnsynced(),
        () -> app.verifier().stats().staleAllowed(), () -> app.verifier().stats().openAllowed(),
        app);
  }
}
