# OpenWrt feed Makefile: secubox-app-mailserver (mailctl, the luci.mailserver rpcd plugin,
# init script) and luci-app-mailserver (the LuCI page, menu entry and ACL).
#
# An OpenWrt buildroot has no npm registry, so nothing is compiled here: the packages take the
# prebuilt, dependency-free bundles that `node scripts/build.mjs` (run first by `npm test` and
# `npm run package`) writes to rpcd/ and acl.d/, and the built page under luci-app/htdocs/.
# Build those in this checkout before `make package/secubox-mailserver/compile`.
# Without the SDK, `npm run package` makes the same two .ipk files in dist/.

include $(TOPDIR)/rules.mk

PKG_NAME:=secubox-mailserver
# The version is package.json's, so the feed and `npm run package` name the same release.
PKG_VERSION:=$(shell sed -n 's/^[[:space:]]*"version":[[:space:]]*"\([^"]*\)".*/\1/p' $(CURDIR)/package.json)
PKG_RELEASE:=1
PKG_LICENSE:=GPL-2.0-only
PKG_MAINTAINER:=SecuBox <dev@secubox.invalid>

include $(INCLUDE_DIR)/package.mk

define Package/secubox-app-mailserver
  SECTION:=mail
  CATEGORY:=Mail
  TITLE:=SecuBox mail server manager (Postfix + Dovecot)
  DEPENDS:=+node +postfix +dovecot +openssl-util
  PKGARCH:=all
endef

define Package/secubox-app-mailserver/description
  Configures, runs under procd, checks and repairs a Postfix + Dovecot mail server:
  the mailctl command and the luci.mailserver rpcd (ubus) plugin.
endef

define Package/secubox-app-mailserver/conffiles
/etc/config/mailserver
endef

define Package/luci-app-mailserver
  SECTION:=luci
  CATEGORY:=LuCI
  SUBMENU:=3. Applications
  TITLE:=LuCI page for the SecuBox mail server
  DEPENDS:=+secubox-app-mailserver +luci-base
  PKGARCH:=all
endef

define Package/luci-app-mailserver/description
  Services > Mail Server: mailboxes, aliases, domains, relay and service state.
endef

define Build/Prepare
	@test -f ./rpcd/mailctl -a -f ./rpcd/luci.mailserver.js -a -f ./rpcd/luci.mailserver.list.json -a -f ./rpcd/lib/acme.js -a -f ./rpcd/lib/mesh.js \
		-a -f ./rpcd/lib/mailctl-main.js -a -f ./rpcd/lib/luci.mailserver-main.js \
		-a -f ./acl.d/luci-app-mailserver.json || { \
		echo "$(PKG_NAME): the prebuilt bundles are missing: run 'npm ci && node scripts/build.mjs' in $(CURDIR) first" >&2; \
		false; }
	mkdir -p $(PKG_BUILD_DIR)
	$(CP) ./rpcd ./acl.d ./menu.d ./files $(PKG_BUILD_DIR)/
	if [ -d ./luci-app/htdocs ]; then $(CP) ./luci-app $(PKG_BUILD_DIR)/; fi
endef

define Build/Configure
endef

define Build/Compile
endef

define Package/secubox-app-mailserver/install
	$(INSTALL_DIR) $(1)/usr/sbin
	$(INSTALL_BIN) $(PKG_BUILD_DIR)/rpcd/mailctl $(1)/usr/sbin/mailctl
	$(INSTALL_DIR) $(1)/usr/lib/mailserver
	$(INSTALL_BIN) $(PKG_BUILD_DIR)/rpcd/luci.mailserver.js $(1)/usr/lib/mailserver/
	$(INSTALL_DATA) $(PKG_BUILD_DIR)/rpcd/luci.mailserver.list.json $(1)/usr/lib/mailserver/
	$(INSTALL_DIR) $(1)/usr/lib/mailserver/lib
	$(INSTALL_DATA) $(PKG_BUILD_DIR)/rpcd/lib/acme.js $(1)/usr/lib/mailserver/lib/
	$(INSTALL_DATA) $(PKG_BUILD_DIR)/rpcd/lib/mesh.js $(1)/usr/lib/mailserver/lib/
	$(INSTALL_DATA) $(PKG_BUILD_DIR)/rpcd/lib/mailctl-main.js $(1)/usr/lib/mailserver/lib/
	$(INSTALL_DATA) $(PKG_BUILD_DIR)/rpcd/lib/luci.mailserver-main.js $(1)/usr/lib/mailserver/lib/
	$(INSTALL_DIR) $(1)/usr/libexec/rpcd
	$(INSTALL_BIN) $(PKG_BUILD_DIR)/rpcd/luci.mailserver $(1)/usr/libexec/rpcd/luci.mailserver
	$(SED) 's|^LIB=.*|LIB=/usr/lib/mailserver|' $(1)/usr/libexec/rpcd/luci.mailserver
	$(INSTALL_DIR) $(1)/etc/init.d
	$(INSTALL_BIN) $(PKG_BUILD_DIR)/files/etc/init.d/mailserver $(1)/etc/init.d/mailserver
	$(INSTALL_DIR) $(1)/etc/config
	$(INSTALL_DATA) $(PKG_BUILD_DIR)/files/etc/config/mailserver $(1)/etc/config/mailserver
	$(INSTALL_DIR) $(1)/etc/uci-defaults
	$(INSTALL_BIN) $(PKG_BUILD_DIR)/files/etc/uci-defaults/90-mailserver $(1)/etc/uci-defaults/90-mailserver
endef

define Package/secubox-app-mailserver/postinst
#!/bin/sh
[ -n "$${IPKG_INSTROOT}" ] || /etc/init.d/rpcd reload
exit 0
endef

# Whatever the page build left under luci-app/htdocs (view/mailserver/main.js and the app
# under mailserver/) goes to /www, as luci.mk does with a LuCI app's htdocs.
define Package/luci-app-mailserver/install
	$(INSTALL_DIR) $(1)/www
	if [ -d $(PKG_BUILD_DIR)/luci-app/htdocs ]; then $(CP) $(PKG_BUILD_DIR)/luci-app/htdocs/. $(1)/www/; fi
	$(INSTALL_DIR) $(1)/usr/share/luci/menu.d
	$(INSTALL_DATA) $(PKG_BUILD_DIR)/menu.d/luci-app-mailserver.json $(1)/usr/share/luci/menu.d/
	$(INSTALL_DIR) $(1)/usr/share/rpcd/acl.d
	$(INSTALL_DATA) $(PKG_BUILD_DIR)/acl.d/luci-app-mailserver.json $(1)/usr/share/rpcd/acl.d/
	$(INSTALL_DIR) $(1)/etc/uci-defaults
	$(INSTALL_BIN) $(PKG_BUILD_DIR)/files/etc/uci-defaults/91-luci-mailserver $(1)/etc/uci-defaults/91-luci-mailserver
endef

define Package/luci-app-mailserver/postinst
#!/bin/sh
[ -n "$${IPKG_INSTROOT}" ] || {
	rm -f /tmp/luci-indexcache*
	rm -rf /tmp/luci-modulecache/
	/etc/init.d/rpcd reload
}
exit 0
endef

$(eval $(call BuildPackage,secubox-app-mailserver))
$(eval $(call BuildPackage,luci-app-mailserver))
