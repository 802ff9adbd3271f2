# The alternative to the site ConfigMap: an image built on Frontdesk's that carries your site
# directory (any size, assets included, versioned with the image). From your site's repository:
#   docker build -f site.Dockerfile --build-arg FRONTDESK_IMAGE=frontdesk:0.1.0 -t clinic-frontdesk .
# Then use that image in the Deployments, drop their `site` init container and site volumes, and
# leave FRONTDESK_SITE_DIR unset (it defaults to /app/site in the image). docs/operations.md.
ARG FRONTDESK_IMAGE=frontdesk:0.1.0
FROM ${FRONTDESK_IMAGE}
COPY --chown=root:root site /app/site
# Fail the build, not the rollout, when the site directory has an error.
RUN frontdesk content check /app/site && frontdesk forms check /app/site
