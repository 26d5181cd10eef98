package io.keyward.examples.spring;

import org.springframework.stereotype.Controller;
import org.springframework.web.bind.annotation.GetMapping;

/** A path outside every route that forwards to a protected one (tests only). */
@Controller
class ForwardingController {
  @GetMapping("/legacy/payments")
  String legacy() {
    return "forward:/api/payments";
  }
}
