package azstore

import (
	"fmt"
	"strings"
)

// Azurite's well-known development account (UseDevelopmentStorage=true).
const (
	devAccount  = "devstoreaccount1"
	devKey      = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
	devEndpoint = "http://127.0.0.1:10000/devstoreaccount1"
)

// FromEnv completes c from the environment Azure users set: a connection
// string (AZURE_STORAGE_CONNECTION_STRING) or an account key
// (AZURE_STORAGE_KEY, with AZURE_STORAGE_ACCOUNT naming the account). An
// account named there must be c.Account. With neither, c keeps no key and
// [New] uses the default Azure credential chain.
func (c *Config) FromEnv(getenv func(string) string) error {
	if cs := getenv("AZURE_STORAGE_CONNECTION_STRING"); cs != "" {
		return c.fromConnectionString(cs)
	}
	key := getenv("AZURE_STORAGE_KEY")
	if key == "" {
		return nil
	}
	if a := getenv("AZURE_STORAGE_ACCOUNT"); a != "" && a != c.Account {
		return fmt.Errorf("azblob: AZURE_STORAGE_ACCOUNT is %s but -storage names account %s: their key would not sign", a, c.Account)
	}
	c.AccountKey = key
	return nil
}

// fromConnectionString takes the account key and blob endpoint of a
// connection string ("AccountName=…;AccountKey=…;BlobEndpoint=…").
func (c *Config) fromConnectionString(cs string) error {
	f := map[string]string{}
	for _, part := range strings.Split(cs, ";") {
		if k, v, ok := strings.Cut(strings.TrimSpace(part), "="); ok {
			f[strings.ToLower(k)] = v
		}
	}
	if strings.EqualFold(f["usedevelopmentstorage"], "true") {
		f["accountname"], f["accountkey"] = devAccount, devKey
		if f["blobendpoint"] == "" {
			f["blobendpoint"] = devEndpoint
		}
	}
	switch {
	case f["accountkey"] == "":
		return fmt.Errorf("azblob: AZURE_STORAGE_CONNECTION_STRING has no AccountKey: hotfolder signs its own read-only SAS URLs, " +
			"so it needs the account key (or no connection string, for the default Azure credential chain)")
	case f["accountname"] != c.Account:
		return fmt.Errorf("azblob: AZURE_STORAGE_CONNECTION_STRING is for account %q but -storage names account %s", f["accountname"], c.Account)
	}
	c.AccountKey = f["accountkey"]
	if c.Endpoint == "" {
		c.Endpoint = f["blobendpoint"]
		if c.Endpoint == "" && f["endpointsuffix"] != "" {
			proto := f["defaultendpointsprotocol"]
			if proto == "" {
				proto = "https"
			}
			c.Endpoint = proto + "://" + c.Account + ".blob." + f["endpointsuffix"]
		}
	}
	return nil
}
