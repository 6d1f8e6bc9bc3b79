<?php
/*
 * fcgx in-pool statistics: OPcache, APCu and the realpath cache, read from inside a php-fpm pool
 * (the PHP CLI has its own caches, never the pool's). Requested by the fcgx collectd plugin over
 * FastCGI; installed read-only, it writes nothing anywhere.
 *
 * It answers only requests that carry the FastCGI parameter FCGX_STATUS_REQUEST. A web server
 * passes a visitor's headers only as HTTP_* parameters, so nobody reaches these figures through
 * a web server, even if this file is exposed: any other request gets 404 and no body.
 */
error_reporting(0);
ini_set('display_errors', '0');

if (PHP_SAPI !== 'fpm-fcgi' || !isset($_SERVER['FCGX_STATUS_REQUEST'])) {
    http_response_code(404);
    exit;
}

header('Content-Type: application/json');
header('Cache-Control: no-store');

/* "4096K" -> 4194304, as PHP reads size ini values. */
function fcgx_ini_bytes($value)
{
    $value = trim((string) $value);
    $number = (float) $value;
    switch (strtolower(substr($value, -1))) {
        case 'g':
            return $number * 1073741824;
        case 'm':
            return $number * 1048576;
        case 'k':
            return $number * 1024;
    }
    return $number;
}

/*
 * ini_get() of a PHP_INI_SYSTEM directive, called by name, is folded into a constant by OPcache's
 * optimizer when this script is compiled, and the compiled script is shared by every pool of the
 * master: a pool's own php_admin_value would be lost. A call through a variable is not folded.
 */
function fcgx_ini_system($name)
{
    $ini_get = 'ini_get';
    return (string) $ini_get($name);
}

$reply = array('fcgx' => 1, 'php_version' => PHP_VERSION);

if (!function_exists('opcache_get_status')) {
    $reply['opcache_error'] = 'not_loaded';
} else {
    $status = @opcache_get_status(false);
    if (is_array($status)) {
        /* Preloading lists every script, function and class by name: send counts only. */
        if (isset($status['preload_statistics']) && is_array($status['preload_statistics'])) {
            foreach (array('scripts', 'functions', 'classes') as $list) {
                $names = isset($status['preload_statistics'][$list]) ? $status['preload_statistics'][$list] : array();
                $status['preload_statistics'][$list] = is_array($names) ? count($names) : 0;
            }
        }
        $reply['opcache'] = $status;
    } elseif (($restrict = fcgx_ini_system('opcache.restrict_api')) !== ''
        && strncmp((string) $_SERVER['SCRIPT_FILENAME'], $restrict, strlen($restrict)) !== 0) {
        /* As OPcache checks it: the script's path (SCRIPT_FILENAME) must start with the value. */
        $reply['opcache_error'] = 'restricted';
        $reply['opcache_restrict_api'] = $restrict;
    } else {
        /* opcache.enable=0 in php.ini: the extension is loaded but has no cache. */
        $reply['opcache_error'] = 'disabled';
    }
}

if (function_exists('apcu_cache_info') && function_exists('apcu_sma_info')) {
    $cache = @apcu_cache_info(true);
    $sma = @apcu_sma_info(true);
    if (is_array($cache) && is_array($sma)) {
        $reply['apcu'] = array(
            'num_slots' => $cache['num_slots'],
            'num_entries' => $cache['num_entries'],
            'num_hits' => $cache['num_hits'],
            'num_misses' => $cache['num_misses'],
            'num_inserts' => $cache['num_inserts'],
            'expunges' => $cache['expunges'],
            'mem_size' => $cache['mem_size'],
            'seg_size' => $sma['seg_size'],
            'num_seg' => $sma['num_seg'],
            'avail_mem' => $sma['avail_mem'],
        );
    } else {
        $reply['apcu_error'] = 'disabled'; /* apc.enabled=0 */
    }
}

if (function_exists('realpath_cache_size')) {
    $reply['realpath_cache'] = array(
        'used' => realpath_cache_size(),
        'size' => fcgx_ini_bytes(fcgx_ini_system('realpath_cache_size')),
    );
}

echo json_encode($reply, JSON_PARTIAL_OUTPUT_ON_ERROR | JSON_UNESCAPED_SLASHES);
