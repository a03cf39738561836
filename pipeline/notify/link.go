package notify

import (
	"net"
	"net/url"
	"path/filepath"
)

// Link is the review page's address: served at http://ADDR/ when the run
// serves -metrics-addr ADDR, else the file `hotfolder review` writes in
// the state folder. An address that listens on every interface (":9464",
// "0.0.0.0:9464") is named by host, this machine's name.
func Link(metricsAddr, state, host string) string {
	if metricsAddr == "" {
		abs, err := filepath.Abs(filepath.Join(state, "review", "index.html"))
		if err != nil {
			abs = filepath.Join(state, "review", "index.html")
		}
		return (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}).String()
	}
	h, port, err := net.SplitHostPort(metricsAddr)
	if err != nil {
		return "http://" + metricsAddr + "/"
	}
	if ip := net.ParseIP(h); (h == "" || ip != nil && ip.IsUnspecified()) && host != "" {
		h = host
	}
	return "http://" + net.JoinHostPort(h, port) + "/"
}
