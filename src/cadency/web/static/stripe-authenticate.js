// The hosted invoice page of a payment waiting for the buyer's bank (3-D Secure): Stripe.js
// asks the bank to confirm the PaymentIntent; Stripe then tells Cadency by its webhook, and a
// reload shows the invoice paid.
(function () {
  "use strict";
  const config = JSON.parse(document.getElementById("stripe-config").textContent);
  const stripe = Stripe(config.publishable_key);
  const button = document.getElementById("stripe-authenticate");
  const error = document.getElementById("stripe-error");
  button.addEventListener("click", async () => {
    button.disabled = true;
    error.hidden = true;
    const result = await stripe.confirmCardPayment(config.client_secret);
    if (result.error) {
      error.textContent = result.error.message || String(result.error);
      error.hidden = false;
      button.disabled = false;
      return;
    }
    button.hidden = true;
    document.getElementById("stripe-confirmed").hidden = false;
  });
})();
