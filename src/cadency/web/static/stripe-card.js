// The card field of a hosted payment form when the account's processor is Stripe: the buyer
// types the card into Stripe's own field (Stripe.js), which confirms the page's SetupIntent
// with Stripe; the form then posts only the SetupIntent's ID. Card numbers never reach
// Cadency. (Works the same with a Stripe-compatible test server's Stripe.js.)
(function () {
  "use strict";
  const config = JSON.parse(document.getElementById("stripe-config").textContent);
  const stripe = Stripe(config.publishable_key);
  const card = stripe.elements().create("card");
  card.mount("#stripe-card");
  const field = document.getElementById("stripe-card");
  const form = field.closest("form");
  const error = document.getElementById("stripe-error");
  let confirmed = false;

  form.addEventListener("submit", async (event) => {
    if (confirmed) {
      return;
    }
    const chosen = form.querySelector('input[name="type"]:checked, input[type="hidden"][name="type"]');
    if (chosen && chosen.value !== "card") {
      return; // a bank debit is posted as typed
    }
    event.preventDefault();
    const submit = form.querySelector('button[type="submit"]');
    if (submit) {
      submit.disabled = true;
    }
    const email = form.querySelector('input[name="email"]');
    const details = email && email.value ? { email: email.value } : {};
    const result = await stripe.confirmCardSetup(config.client_secret, {
      payment_method: { card: card, billing_details: details },
    });
    if (result.error) {
      error.textContent = result.error.message || String(result.error);
      error.hidden = false;
      if (submit) {
        submit.disabled = false;
      }
      return;
    }
    form.querySelector('input[name="stripe_setup_intent"]').value = result.setupIntent.id;
    confirmed = true;
    form.submit();
  });
})();
