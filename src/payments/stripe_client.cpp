#include "payments/stripe_client.hpp"

#include <curl/curl.h>
#include <spdlog/spdlog.h>

#include <cctype>
#include <mutex>

namespace ds::payments {

namespace {

constexpr const char* kProductName = "DreamStream credits";
constexpr long long kCentsPerCredit = 100;

std::string string_or_empty(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

std::string percent_encode(std::string_view s) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kDigits[c >> 4]);
      out.push_back(kDigits[c & 0xf]);
    }
  }
  return out;
}

Error provider_error(std::string message) {
  return Error{ErrorKind::kUpstreamFailed, "payment_provider_error", std::move(message)};
}

size_t append_body(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

class HttpStripeClient final : public StripeClient {
 public:
  explicit HttpStripeClient(StripeHttpConfig config) : config_(std::move(config)) {
    while (!config_.api_base.empty() && config_.api_base.back() == '/') config_.api_base.pop_back();
  }

  Expected<CheckoutSession> create_checkout_session(const CreateCheckoutParams& p) override {
    return call("POST", "/v1/checkout/sessions", form_encode(checkout_form(p)), p.idempotency_key);
  }

  Expected<CheckoutSession> retrieve_checkout_session(const std::string& id) override {
    return call("GET", "/v1/checkout/sessions/" + percent_encode(id), "", "");
  }

 private:
  Expected<CheckoutSession> call(const char* method, const std::string& path,
                                 const std::string& form, const std::string& idempotency_key) {
    std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
    if (!curl) return provider_error("could not reach the payment provider");
    std::string url = config_.api_base + path;
    std::string response;
    char error_buffer[CURL_ERROR_SIZE] = {};

    curl_slist* headers = nullptr;
    std::string auth = "Authorization: Bearer " + config_.secret_key;
    headers = curl_slist_append(headers, auth.c_str());
    headers = curl_slist_append(headers, "Accept: application/json");
    std::string idem;
    if (!idempotency_key.empty()) {
      idem = "Idempotency-Key: " + idempotency_key;
      headers = curl_slist_append(headers, idem.c_str());
    }
    std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> header_guard(headers,
                                                                             curl_slist_free_all);

    CURL* h = curl.get();
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, append_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &response);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(config_.connect_timeout.count()));
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(config_.total_timeout.count()));
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_USERAGENT, "dreamstream/0.1");
    if (std::string_view(method) == "POST") {
      curl_easy_setopt(h, CURLOPT_POST, 1L);
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, form.c_str());
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(form.size()));
    }

    CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
      spdlog::warn("event=stripe_request_failed method={} path={} error=\"{}\"", method, path,
                   error_buffer[0] ? error_buffer : curl_easy_strerror(rc));
      return provider_error("could not reach the payment provider");
    }
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    auto body = nlohmann::json::parse(response, nullptr, false);
    if (status < 200 || status >= 300) {
      std::string message;
      if (body.is_object() && body.contains("error") && body["error"].is_object()) {
        message = string_or_empty(body["error"], "message");
      }
      spdlog::warn("event=stripe_error method={} path={} status={} message=\"{}\"", method, path,
                   status, message);
      if (status == 404) return not_found("no such checkout session at the payment provider");
      return provider_error("the payment provider refused the request");
    }
    if (!body.is_object()) {
      spdlog::warn("event=stripe_bad_reply method={} path={} status={}", method, path, status);
      return provider_error("the payment provider sent an unreadable reply");
    }
    auto session = parse_checkout_session(body);
    if (!session) return provider_error("the payment provider sent no session id");
    return *session;
  }

  StripeHttpConfig config_;
};

}  // namespace

std::optional<CheckoutSession> parse_checkout_session(const nlohmann::json& object) {
  if (!object.is_object()) return std::nullopt;
  CheckoutSession s;
  s.id = string_or_empty(object, "id");
  if (s.id.empty()) return std::nullopt;
  s.url = string_or_empty(object, "url");
  s.status = string_or_empty(object, "status");
  s.payment_status = string_or_empty(object, "payment_status");
  s.currency = string_or_empty(object, "currency");
  for (auto& c : s.currency) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (auto it = object.find("amount_total"); it != object.end() && it->is_number_integer()) {
    s.amount_total = it->get<long long>();
  }
  // payment_intent is an id string, or an object when expanded.
  if (auto it = object.find("payment_intent"); it != object.end()) {
    if (it->is_string()) s.payment_intent = it->get<std::string>();
    if (it->is_object()) s.payment_intent = string_or_empty(*it, "id");
  }
  s.client_reference_id = string_or_empty(object, "client_reference_id");
  if (auto it = object.find("metadata"); it != object.end() && it->is_object()) {
    s.metadata_user_id = string_or_empty(*it, "user_id");
    s.metadata_credits = string_or_empty(*it, "credits");
  }
  return s;
}

std::vector<std::pair<std::string, std::string>> checkout_form(const CreateCheckoutParams& p) {
  std::string user = std::to_string(p.user_id);
  std::vector<std::pair<std::string, std::string>> f = {
      {"mode", "payment"},
      {"line_items[0][price_data][currency]", "eur"},
      {"line_items[0][price_data][unit_amount]", std::to_string(kCentsPerCredit)},
      {"line_items[0][price_data][product_data][name]", kProductName},
      {"line_items[0][quantity]", std::to_string(p.credits)},
      {"client_reference_id", user},
      {"metadata[user_id]", user},
      {"metadata[credits]", std::to_string(p.credits)},
      {"success_url", p.success_url},
      {"cancel_url", p.cancel_url},
  };
  if (!p.customer_email.empty()) f.emplace_back("customer_email", p.customer_email);
  return f;
}

std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  for (const auto& [k, v] : fields) {
    if (!out.empty()) out.push_back('&');
    out += percent_encode(k);
    out.push_back('=');
    out += percent_encode(v);
  }
  return out;
}

std::unique_ptr<StripeClient> make_http_stripe_client(StripeHttpConfig config) {
  return std::make_unique<HttpStripeClient>(std::move(config));
}

void init_http_client() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace ds::payments
