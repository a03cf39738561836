package emulator

import (
	"crypto/subtle"
	"net/http"
	"strings"
	"time"
)

const imsPath = "/ims/token/v3"

// serveIMS imitates Adobe IMS's OAuth server-to-server token endpoint.
// Like IMS it reads the parameters from the form body or the query.
func (s *Server) serveIMS(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, oauthError{"invalid_request", "the token endpoint takes POST"})
		return
	}
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_request", "the request body is not a valid form"})
		return
	}
	grant := r.Form.Get("grant_type")
	switch {
	case grant == "":
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_request", "missing grant_type parameter"})
		return
	case grant != "client_credentials":
		writeJSON(w, http.StatusBadRequest, oauthError{"unsupported_grant_type", "unsupported grant_type " + grant})
		return
	case r.Form.Get("client_id") == "":
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_request", "missing client_id parameter"})
		return
	case !equal(r.Form.Get("client_id"), s.cfg.ClientID):
		s.count(func(st *Stats) { st.Unauthorized++ })
		writeJSON(w, http.StatusUnauthorized, oauthError{"invalid_client", "invalid client_id parameter"})
		return
	case !equal(r.Form.Get("client_secret"), s.cfg.ClientSecret):
		s.count(func(st *Stats) { st.Unauthorized++ })
		writeJSON(w, http.StatusUnauthorized, oauthError{"invalid_client", "invalid client_secret parameter"})
		return
	}

	token := "eyJemulator." + randomHex(32)
	s.mu.Lock()
	now := s.now()
	// Forget expired tokens so a long run does not accumulate them.
	for t, exp := range s.tokens {
		if !now.Before(exp) {
			delete(s.tokens, t)
		}
	}
	s.tokens[token] = now.Add(s.cfg.TokenTTL)
	s.stats.TokensIssued++
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, tokenResponse{
		AccessToken: token,
		TokenType:   "bearer",
		ExpiresIn:   int64(max(0, (s.cfg.TokenTTL-time.Second)/time.Second)),
	})
}

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// authorize checks an API request's bearer token and API key, answering
// 401 or 403 as Adobe's gateway does when they are wrong.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) bool {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	s.mu.Lock()
	exp, known := s.tokens[token]
	valid := strings.EqualFold(scheme, "bearer") && known && s.now().Before(exp)
	s.mu.Unlock()
	switch {
	case !valid:
		s.count(func(st *Stats) { st.Unauthorized++ })
		writeAPIError(w, http.StatusUnauthorized, "401013", "Oauth token is not valid")
		return false
	case !equal(r.Header.Get("X-Api-Key"), s.cfg.ClientID):
		s.count(func(st *Stats) { st.Unauthorized++ })
		writeAPIError(w, http.StatusForbidden, "403003", "Api Key is invalid")
		return false
	}
	return true
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
